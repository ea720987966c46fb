"""placeholder"""
from gateway.routing import Routes

routes = Routes("deliveries")
