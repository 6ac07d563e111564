"""Component ids, prefixed by page. Browser tests rely on these: change them with care."""

# shell
URL = "url"
NAVBAR_USER = "navbar-user"
NAV_ACCOUNT = "nav-account"
NAV_LOGOUT = "nav-logout"
NAV_SIGN_OUT_EVERYWHERE = "nav-sign-out-everywhere"
NAV_CLIENT = "nav-push-to-device-client"
MASTER_KEY_BANNER = "shell-master-key-banner"

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

# topology: connectors
PUSH_TO_DEVICE = "push-to-device-btn"
TOPOLOGY_REFRESH = "topology-refresh"
CONNECTOR_TABLE = "topology-connector-table"
CONNECTOR_UNBIND = "connector-unbind"
CONNECTOR_PANEL_MESSAGE = "topology-connector-message"
BIND_EXISTING_SELECT = "bind-existing-select"
BIND_EXISTING_BTN = "bind-existing-btn"
CONNECTOR_MODAL = "add-connector-modal"
CONNECTOR_NAME = "connector-name"
CONNECTOR_TYPE = "connector-type"
CONNECTOR_FIELDS = "connector-fields"
CONNECTOR_FIELD = "connector-field"
CONNECTOR_SECRET_KIND = "connector-secret-kind"
CONNECTOR_SECRET = "connector-secret"
CONNECTOR_ENDPOINTS = "connector-endpoints"
CONNECTOR_WINDOWS = "connector-windows"
CONNECTOR_ROLLBACK = "connector-auto-rollback"
CONNECTOR_CANARY = "connector-canary"
CONNECTOR_TEST = "connector-test-btn"
CONNECTOR_TEST_RESULT = "connector-test-result"
CONNECTOR_TASK = "connector-test-task"
CONNECTOR_TASK_POLL = "connector-test-poll"
CONNECTOR_SAVE = "connector-save-btn"
CONNECTOR_CANCEL = "connector-cancel-btn"
CONNECTOR_ERRORS = "connector-errors"
CONNECTOR_ERROR_LIST = "connector-error-list"
HOST_KEY_SEEN = "connector-host-key-seen"
HOST_KEY_ACCEPT = "connector-host-key-accept"
HOST_KEY_VALUE = "connector-host-key-value"
TOPOLOGY_EXPANDED = "topology-expanded"
TOPOLOGY_NODE_INFO = "topology-node-info"
TOPOLOGY_NODE_DETAILS = "topology-node-details"
TOPOLOGY_FIT = "topology-fit-btn"
TOPOLOGY_FIT_DONE = "topology-fit-done"
ENDPOINTS_EDIT = "connector-edit-endpoints"
ENDPOINTS_MODAL = "endpoints-modal"
ENDPOINTS_TEXT = "endpoints-text"
ENDPOINTS_CONNECTOR = "endpoints-connector"
ENDPOINTS_SAVE = "endpoints-save-btn"
ENDPOINTS_ERRORS = "endpoints-errors"

# shell: the browser's time zone (its offset and IANA name), for local times both ways
BROWSER_TZ = "browser-tz"
NAV_WORKORDERS = "nav-workorders"
NAV_AUDIT = "nav-audit"
NAV_AUDIT_ITEM = "nav-audit-item"
NAV_USERS_ITEM = "nav-users-item"
NAV_TOKENS = "nav-api-tokens"

# topology: push request and approvals
TOPOLOGY_ACTION_MESSAGE = "topology-action-message"
TOPOLOGY_WO_ACTIONS = "topology-workorder-actions"
TOPOLOGY_WO_STATE = "topology-workorder-state"
TOPOLOGY_WO_POLL = "topology-workorder-poll"
PUSH_CONFIRM_MODAL = "push-confirm-modal"
PUSH_CONFIRM_TARGETS = "push-confirm-targets"
PUSH_COMMENT = "push-comment"
PUSH_CONFIRM_OK = "push-confirm-ok"
PUSH_CONFIRM_CANCEL = "push-confirm-cancel"
PUSH_CONFIRM_ERROR = "push-confirm-error"
APPROVE_BTN = "approve-btn"
IMPLEMENT_BTN = "implement-btn"
REJECT_BTN = "reject-btn"
CANCEL_WO_BTN = "cancel-wo-btn"
RESCHEDULE_BTN = "reschedule-btn"
APPROVAL_MODAL = "approval-modal"
APPROVAL_TITLE = "approval-title"
APPROVAL_SUMMARY = "approval-summary"
APPROVAL_PENDING = "approval-pending"
MANUAL_SWITCH = "manual-implementation-switch"
MANUAL_SWITCH_ROW = "manual-implementation-row"
SCHEDULE_DATETIME = "schedule-datetime"
SCHEDULE_ROW = "schedule-datetime-row"
SCHEDULE_ZONE = "schedule-datetime-zone"
APPROVAL_COMMENT = "approval-comment"
APPROVAL_COMMENT_LABEL = "approval-comment-label"
APPROVAL_YES = "approval-yes"
APPROVAL_NO = "approval-no"
APPROVAL_ERROR = "approval-error"
APPROVAL_WINDOWS = "approval-windows"  # each work order's maintenance windows, next opening
PUSH_PLAN = "push-plan"  # a work order's pinned push plan and its preflight results

# work orders page
WORKORDERS_GRID = "workorders-grid"
WORKORDERS_STATUS = "workorders-filter-status"
WORKORDERS_MINE = "workorders-filter-mine"
WORKORDERS_REQUESTER = "workorders-filter-requester"
WORKORDERS_FROM = "workorders-filter-from"
WORKORDERS_TO = "workorders-filter-to"
WORKORDERS_REFRESH = "workorders-refresh-btn"
WORKORDERS_COUNT = "workorders-count"
WORKORDERS_ERROR = "workorders-error"
WORKORDERS_TIMELINE = "workorders-timeline"
WORKORDERS_EVIDENCE = "workorders-evidence-btn"
WORKORDERS_EVIDENCE_FILE = "workorders-evidence-download"
WORKORDERS_EVIDENCE_ERROR = "workorders-evidence-error"

# audit trail page
AUDIT_GRID = "audit-grid"
AUDIT_ERROR = "audit-error"
VERIFY_NOW = "verify-now-btn"
VERIFY_TASK = "verify-now-task"
VERIFY_POLL = "verify-now-poll"
VERIFY_STATUS = "verify-now-status"

# reports: Push Validation
NAV_REPORTS = "nav-reports"
NAV_REPORTS_PUSH_VALIDATION = "nav-reports-push-validation"
REPORT_PRESET = "report-period-preset"
REPORT_RANGE = "report-period-range"
REPORT_RANGE_ROW = "report-period-range-row"
REPORT_GRANULARITY = "report-granularity"
REPORT_PERIOD_LABEL = "report-period-label"
REPORT_ERROR = "report-error"
REPORT_KPIS = "report-kpis"
REPORT_TREND = "report-trend"
REPORT_BY_TYPE = "report-by-connector-type"
REPORT_BY_DEVICE = "report-by-device"
REPORT_REASONS = "report-reasons"
REPORT_DRILLDOWN = "report-drilldown"
REPORT_EXPIRY = "report-expiry"
REPORT_DOWNLOAD_CSV = "report-download-csv"
REPORT_DOWNLOAD_XLSX = "report-download-xlsx"
REPORT_DOWNLOAD_PDF = "report-download-pdf"
REPORT_DOWNLOAD = "report-download"
REPORT_EXPORT_MESSAGE = "report-export-message"
REPORT_WEEKLY = "report-weekly"
REPORT_WEEKLY_DOWNLOAD = "report-weekly-download"
REPORT_WEEKLY_FILE = "report-weekly-file"  # pattern: {"type": ..., "report": id, "fmt": "pdf"}


def report_weekly_file(report_id: int, fmt: str) -> dict:
    return {"type": REPORT_WEEKLY_FILE, "report": report_id, "fmt": fmt}


# Users page (admins)
USERS_GRID = "users-grid"
USERS_MESSAGE = "users-message"
USERS_REFRESH = "users-refresh"
USERS_ROLE = "users-role"
USERS_PASSWORD = "users-password"
USERS_DISABLE = "users-disable-btn"
USERS_ENABLE = "users-enable-btn"
USERS_SET_ROLE = "users-set-role-btn"
USERS_RESET = "users-reset-password-btn"
USERS_SIGN_OUT = "users-sign-out-btn"

# API tokens page (each user's own tokens)
TOKENS_TABLE = "tokens-table"
TOKENS_MESSAGE = "tokens-message"
TOKENS_REFRESH = "tokens-refresh"
TOKENS_NAME = "tokens-name"
TOKENS_SCOPE = "tokens-scope"
TOKENS_EXPIRES = "tokens-expires"
TOKENS_CREATE = "tokens-create-btn"
TOKENS_CREATE_MESSAGE = "tokens-create-message"
TOKENS_SECRET_PANEL = "tokens-secret-panel"
TOKENS_SECRET = "tokens-secret"
TOKENS_SECRET_COPY = "tokens-secret-copy"
TOKENS_REVOKE = "tokens-revoke"  # pattern: {"type": TOKENS_REVOKE, "token": id}


def token_revoke(token_id: int) -> dict:
    return {"type": TOKENS_REVOKE, "token": token_id}


# topology: a rollout's canary and waves, and Resume / Abort when it halted
ROLLOUT_PANEL = "rollout-panel"
ROLLOUT_SUMMARY = "rollout-summary"
ROLLOUT_CONTROLS = "rollout-controls"
ROLLOUT_COMMENT = "rollout-comment"
ROLLOUT_RESUME = "rollout-resume-btn"
ROLLOUT_ABORT = "rollout-abort-btn"
ROLLOUT_REQUEST = "rollout-request"
ROLLOUT_MESSAGE = "rollout-message"

# Agents page (zone agents: list, approve, revoke)
NAV_AGENTS = "nav-agents"
AGENTS_TABLE = "agents-table"
AGENTS_ZONES = "agents-zones"
AGENTS_MESSAGE = "agents-message"
AGENTS_REFRESH = "agents-refresh"
AGENTS_POLL = "agents-poll"
AGENTS_DECIDE = "agents-decide"  # pattern: {"type": AGENTS_DECIDE, "agent": name, "to": verb}


def agent_decision(name: str, verb: str) -> dict:
    return {"type": AGENTS_DECIDE, "agent": name, "to": verb}


# Notifications page (each user's address and choices; admins' channels and the outbox)
NAV_NOTIFICATIONS = "nav-notifications"
NOTIFY_EMAIL = "notify-email"
NOTIFY_EMAIL_SAVE = "notify-email-save-btn"
NOTIFY_PREFS = "notify-prefs"
NOTIFY_PREF = "notify-pref"  # pattern: {"type": NOTIFY_PREF, "kind": kind}
NOTIFY_PREFS_SAVE = "notify-prefs-save-btn"
NOTIFY_MESSAGE = "notify-message"
NOTIFY_REFRESH = "notify-refresh"
NOTIFY_ADMIN = "notify-admin"
NOTIFY_CHANNEL_NAME = "notify-channel-name"
NOTIFY_CHANNEL_URL = "notify-channel-url"
NOTIFY_CHANNEL_EVENTS = "notify-channel-events"
NOTIFY_CHANNEL_ADD = "notify-channel-add-btn"
NOTIFY_CHANNELS = "notify-channels"
NOTIFY_CHANNEL_MESSAGE = "notify-channel-message"
NOTIFY_CHANNEL_TEST = "notify-channel-test"  # pattern: {"type": ..., "channel": name}
NOTIFY_CHANNEL_REMOVE = "notify-channel-remove"  # pattern: {"type": ..., "channel": name}
NOTIFY_TEST_TASK = "notify-test-task"
NOTIFY_TEST_POLL = "notify-test-poll"
NOTIFY_OUTBOX = "notify-outbox"


def notify_pref(kind: str) -> dict:
    return {"type": NOTIFY_PREF, "kind": kind}


def notify_channel_test(name: str) -> dict:
    return {"type": NOTIFY_CHANNEL_TEST, "channel": name}


def notify_channel_remove(name: str) -> dict:
    return {"type": NOTIFY_CHANNEL_REMOVE, "channel": name}
