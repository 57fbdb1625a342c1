from django.contrib import admin
from django.urls import include, path

from chat import accounts

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before contrib.auth's, so that its patterns can never shadow the sign-up page.
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.urls")),
]
