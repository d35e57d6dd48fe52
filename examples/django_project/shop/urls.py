"""Three routes: one that works, one that fails, and Django's own 404 for the rest."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("checkout/", views.checkout, name="checkout"),
]
