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
    // The browser's time zone for the server: a datetime-local value is wall-clock time
    // here. The IANA name knows daylight saving time; the offset (minutes to add to local
    // time to get UTC) is the fallback. Written only when it changed.
    browserTimeZone: function (_pathname, known) {
      var zone = null;
      try {
        zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null;
      } catch (e) {
        zone = null;
      }
      var now = { zone: zone, offset: new Date().getTimezoneOffset() };
      if (known && known.zone === now.zone && known.offset === now.offset) {
        return window.dash_clientside.no_update;
      }
      return now;
    },
  },
});
