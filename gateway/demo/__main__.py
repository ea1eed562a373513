"""``python -m gateway.demo --port 8701``: serve the demo vehicle cloud in the foreground."""

from gateway.demo.vehicle_cloud import main

main()
