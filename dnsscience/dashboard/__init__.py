"""A small status page of a dnsscience deployment, served on 127.0.0.1.

:func:`~dnsscience.dashboard.data.collect` reads the figures,
:func:`~dnsscience.dashboard.page.render_page` turns them into a self-contained
HTML page, and :class:`~dnsscience.dashboard.server.DashboardServer` serves it.
``dnsscience dashboard`` runs the server.
"""

from dnsscience.dashboard.data import DashboardData, collect
from dnsscience.dashboard.page import render_page
from dnsscience.dashboard.server import DashboardServer

__all__ = ["DashboardData", "DashboardServer", "collect", "render_page"]
