"""The navigation bar, reproducing the vendor menu CERT+ > CERTIFICATE ACTION > Push to Device."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids


def _post_button(label: str, action: str, csrf: str, button_id: str) -> html.Form:
    """A menu entry that POSTs a small form with the session's CSRF token (never a GET
    link: a prefetch or a cross-site image must not log anyone out)."""
    return html.Form(
        [
            dbc.Input(type="hidden", name="csrf", value=csrf),
            html.Button(label, type="submit", id=button_id, className="dropdown-item"),
        ],
        method="post",
        action=action,
    )


def navbar(csrf: str = "") -> dbc.Navbar:
    """The top bar; ``csrf`` is the logged-in session's form token (dashboard.auth.form_token)."""
    cert_menu = dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem("CERTIFICATE ACTION", header=True),
            dbc.DropdownMenuItem("Push to Device", header=True, className="ps-4"),
            dbc.DropdownMenuItem(
                "Client",
                href="/certificates/client",
                id=ids.NAV_CLIENT,
                className="ps-5",
            ),
        ],
        label="CERT+",
        nav=True,
        in_navbar=True,
        id="nav-cert-plus",
    )
    # Every role may view reports; a callback hides the menu from a role that may not,
    # and each report callback checks again.
    reports_menu = dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem(
                "Push Validation",
                href="/reports/push-validation",
                id=ids.NAV_REPORTS_PUSH_VALIDATION,
            ),
        ],
        label="Reports",
        nav=True,
        in_navbar=True,
        id=ids.NAV_REPORTS,
    )
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("certpush", href="/"),
                dbc.Nav(
                    [
                        dbc.NavItem(dbc.NavLink("Overview", href="/")),
                        cert_menu,
                        reports_menu,
                        dbc.NavItem(
                            dbc.NavLink("Work orders", href="/workorders", id=ids.NAV_WORKORDERS)
                        ),
                        dbc.NavItem(dbc.NavLink("Agents", href="/agents", id=ids.NAV_AGENTS)),
                        dbc.NavItem(
                            dbc.NavLink(
                                "Notifications", href="/notifications", id=ids.NAV_NOTIFICATIONS
                            )
                        ),
                        # Shown to admins and managers by a callback; the page checks again.
                        dbc.NavItem(
                            dbc.NavLink("Audit trail", href="/audit", id=ids.NAV_AUDIT),
                            id=ids.NAV_AUDIT_ITEM,
                            className="d-none",
                        ),
                        # Shown to admins by a callback; every action checks again.
                        dbc.NavItem(
                            dbc.NavLink("Users", href="/users"),
                            id=ids.NAV_USERS_ITEM,
                            className="d-none",
                        ),
                    ],
                    navbar=True,
                ),
                dbc.Nav(
                    [
                        html.Span(id=ids.NAVBAR_USER, className="navbar-text me-3"),
                        dbc.DropdownMenu(
                            [
                                dbc.DropdownMenuItem(
                                    "API tokens", href="/tokens", id=ids.NAV_TOKENS
                                ),
                                dbc.DropdownMenuItem(divider=True),
                                _post_button("Log out", "/logout", csrf, ids.NAV_LOGOUT),
                                dbc.DropdownMenuItem(divider=True),
                                _post_button(
                                    "Sign out everywhere",
                                    "/logout/everywhere",
                                    csrf,
                                    ids.NAV_SIGN_OUT_EVERYWHERE,
                                ),
                            ],
                            label="Account",
                            nav=True,
                            in_navbar=True,
                            align_end=True,
                            id=ids.NAV_ACCOUNT,
                        ),
                    ],
                    navbar=True,
                    className="ms-auto",
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )
