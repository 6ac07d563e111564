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
    // Fit the whole topology into its panel. The cytoscape instance is the one the core
    // registers on its container div (container._cyreg.cy), so it is this graph's own.
    fitGraph: function (clicks, graphId) {
      var container = document.getElementById(graphId);
      var cy = container && container._cyreg && container._cyreg.cy;
      if (clicks && cy) {
        cy.resize();
        cy.fit(undefined, 24);
      }
      return window.dash_clientside.no_update;
    },
    // Keep the graph's clicks and hovers where its nodes are drawn. Cytoscape caches where
    // its container sits on the page and refreshes that on window scroll and resize only;
    // when content above the graph appears (the title, an alert, a message) the graph moves
    // down and every tap lands beside its node (dash-cytoscape issue #187). Watching the
    // page for changes and calling cy.resize() when the container moved keeps them aligned.
    alignGraph: function (_elements, graphId) {
      var container = document.getElementById(graphId);
      var cy = container && container._cyreg && container._cyreg.cy;
      if (!cy) {
        return window.dash_clientside.no_update;
      }
      var where = function () {
        var r = container.getBoundingClientRect();
        return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height].join();
      };
      if (!container.__certpushAligned) {
        var last = where();
        var pending = false;
        var observer = new MutationObserver(function () {
          if (pending) {
            return;
          }
          pending = true;
          window.requestAnimationFrame(function () {
            pending = false;
            if (!document.body.contains(container)) {
              observer.disconnect();
              return;
            }
            var now = where();
            if (now !== last) {
              last = now;
              cy.resize();
            }
          });
        });
        observer.observe(document.body, {
          childList: true,
          subtree: true,
          attributes: true,
          attributeFilter: ["class", "style", "hidden"],
        });
        container.__certpushAligned = true;
      }
      cy.resize();
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
