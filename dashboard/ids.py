"""Component ids, prefixed by page. Browser tests rely on these: change them with care."""

# shell
URL = "url"
NAVBAR_USER = "navbar-user"
NAV_CLIENT = "nav-push-to-device-client"

# overview page
OVERVIEW_COUNTS = "overview-status-counts"

# client certificate page
CLIENT_GRID = "client-cert-grid"
CLIENT_NAV = "client-cert-nav"
CLIENT_ERROR = "client-cert-error"

# topology page
TOPOLOGY_FINGERPRINT = "topology-fingerprint"
TOPOLOGY_GRAPH = "topology-graph"
TOPOLOGY_TITLE = "topology-title"
TOPOLOGY_DETAILS = "topology-details"
TOPOLOGY_CONNECTORS = "topology-connectors"
TOPOLOGY_ERROR = "topology-error"
STATUS_LEGEND = "status-legend"
ADD_CONNECTOR_BTN = "add-connector-btn"
IMPORT_OPEN = "client-import-btn"
IMPORT_MODAL = "client-import-modal"
IMPORT_UPLOAD = "client-import-upload"
IMPORT_PASSWORD = "client-import-password"
IMPORT_RESULTS = "client-import-results"
IMPORT_SUMMARY = "client-import-summary"
IMPORT_CLOSE = "client-import-close"
IMPORT_DONE = "client-import-done"
