from django.contrib.auth import views as auth_views
from django.urls import path

from monitoring import library_views, views

urlpatterns = [
    path("", views.session_list, name="monitoring-session-list"),
    path("sessions/new/", views.session_new, name="monitoring-session-new"),
    path(
        "sessions/<uuid:session_id>/",
        views.session_detail,
        name="monitoring-session-detail",
    ),
    path(
        "sessions/<uuid:session_id>/resume/",
        views.session_resume,
        name="monitoring-session-resume",
    ),
    path(
        "sessions/<uuid:session_id>/rerun/",
        views.session_rerun,
        name="monitoring-session-rerun",
    ),
    path(
        "sessions/<uuid:session_id>/cancel/",
        views.session_cancel,
        name="monitoring-session-cancel",
    ),
    path(
        "sessions/<uuid:session_id>/download/<str:name>",
        views.session_download,
        name="monitoring-session-download",
    ),
    path(
        "sessions/<uuid:session_id>/export/",
        views.session_export,
        name="monitoring-session-export",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("library/", library_views.library_page, name="monitoring-library"),
    path(
        "library/<str:item_id>/remove/",
        library_views.library_remove,
        name="monitoring-library-remove",
    ),
]
