from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.room_index, name="index"),
    path("rooms/online", views.room_online_counts, name="online"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.prometheus_metrics, name="metrics"),
]
