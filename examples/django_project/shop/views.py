"""Views of the example shop."""

from django.http import HttpRequest, HttpResponse


def home(request: HttpRequest) -> HttpResponse:
    """A page that works."""
    return HttpResponse("ok")


def checkout(request: HttpRequest) -> HttpResponse:
    """A view with a bug: a KeyError that Django turns into a 500 and logs."""
    cart: dict[str, int] = {}
    greeting = "welcome back" if request.user.is_authenticated else "welcome"
    return HttpResponse(f"{greeting}: {cart['total']}")
