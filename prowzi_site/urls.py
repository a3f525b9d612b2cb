from django.contrib import admin
from django.urls import include, path

from monitoring import health

urlpatterns = [
    path("healthz", health.healthz, name="monitoring-healthz"),
    path("metrics", health.metrics, name="monitoring-metrics"),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("", include("monitoring.urls")),
]
