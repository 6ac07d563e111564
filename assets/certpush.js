// Clientside callbacks: browser-only effects that need no server round trip.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  certpush: {
    // After an import, drop the grid's cached blocks so new rows appear.
    refreshGrid: function (done) {
      if (done && window.dash_ag_grid) {
        dash_ag_grid.getApiAsync("client-cert-grid").then(function (api) {
          api.refreshInfiniteCache();
        });
      }
      return window.dash_clientside.no_update;
    },
  },
});
