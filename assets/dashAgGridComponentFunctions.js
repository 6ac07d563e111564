// Cell renderers for dash-ag-grid. Text is passed as a React child, so it is escaped.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.StatusBadge = function (props) {
  if (!props.data) {
    return null;
  }
  return React.createElement(
    "span",
    {
      className: "badge status-badge",
      style: { backgroundColor: props.data.status_hex, color: props.data.status_text_hex },
    },
    props.value
  );
};

// A link to a certificate's topology; the href is built on the server from the
// fingerprint, the visible text is a React child (escaped).
dagcomponentfuncs.TopologyLink = function (props) {
  if (!props.data) {
    return null;
  }
  return React.createElement("a", { href: props.data.topology_href }, props.value);
};
