from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from monitoring import health

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that link no icon, such as the
    # admin's; send them to the one the dashboard's pages link.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"))),
    path("healthz", health.healthz, name="monitoring-healthz"),
    path("metrics", health.metrics, name="monitoring-metrics"),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("", include("monitoring.urls")),
]
