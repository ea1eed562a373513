"""The bundled demo: a vehicle-cloud upstream, its registration and ways to run it on a loopback port."""

from gateway.demo.registry import DEMO_UPSTREAMS_PATH, VEHICLE_CLOUD, demo_upstreams
from gateway.demo.server import BackgroundServer, ServerStartError, VehicleCloudProcess, run_vehicle_cloud
from gateway.demo.vehicle_cloud import DEMO_CUSTOMERS, create_vehicle_cloud_app

__all__ = [
    "DEMO_CUSTOMERS",
    "DEMO_UPSTREAMS_PATH",
    "VEHICLE_CLOUD",
    "BackgroundServer",
    "ServerStartError",
    "VehicleCloudProcess",
    "create_vehicle_cloud_app",
    "demo_upstreams",
    "run_vehicle_cloud",
]
