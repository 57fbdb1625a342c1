from django.urls import re_path

from chat.consumers import RoomConsumer

# Any slug-shaped path reaches the consumer, which closes with 4404 for rooms that do not exist.
websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<slug>[a-z0-9][a-z0-9-]{0,62})/$", RoomConsumer.as_asgi()),
]
