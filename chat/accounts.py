"""Sign-up: contrib.auth's UserCreationForm held to the chat's name rules, and the page that uses it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, login
from django.contrib.auth.forms import UserCreationForm, UsernameField
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from chat.identity import NICKNAME_RE, NICKNAME_RULE, name_taken
from chat.names import name_normalize

# A new account is signed in with the password it has just chosen: nothing for axes to throttle, and
# login() needs to be told which backend when there are several.
_SIGN_UP_BACKEND = "django.contrib.auth.backends.ModelBackend"


class SignUpForm(UserCreationForm[User]):
    class Meta:  # UserCreationForm.Meta's, with the email address (for password reset)
        model = User
        fields = ("username", "email")
        field_classes = {"username": UsernameField}
        help_texts = {
            "username": "2 to 32 letters, digits, dots, hyphens or underscores. Others see it in the chat.",
            "email": "Optional: only used to reset your password if you forget it.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(minlength="2", maxlength="32")
        self.fields["email"].widget.attrs.update(autocomplete="email")

    def clean_username(self) -> str:
        """The chosen name in the chat's shape, and no look-alike of a registered user's."""
        username = super().clean_username()  # contrib.auth's own check: no case variant of a username
        if not username:
            return username
        # A guest's nickname is normalised silently (chat.identity.check_nickname), but a username is
        # also typed at every log-in, where only NFKC is applied: refuse the invisible characters
        # instead of storing a name that differs from the one typed.
        if name_normalize(username) != username or not NICKNAME_RE.fullmatch(username):
            raise ValidationError(NICKNAME_RULE, code="invalid")
        if name_taken(username):
            raise ValidationError("That name is taken: it looks like a registered user's.", code="unique")
        return username


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing up, as LoginView decides it: a page of this site, or nowhere."""
    url = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
    safe = url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return url if safe else ""


@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, sign it in, and go on to `next` (if it is this site's) or the room list."""
    next_url = _next_url(request)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        login(request, form.save(), backend=_SIGN_UP_BACKEND)
        return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    return render(request, "registration/signup.html", {"form": form, REDIRECT_FIELD_NAME: next_url})
