from django.contrib.auth import views as auth_views
from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.session_list, name="monitoring-session-list"),
    path(
        "sessions/<uuid:session_id>/",
        views.session_detail,
        name="monitoring-session-detail",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
