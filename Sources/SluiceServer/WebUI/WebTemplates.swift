import Mustache

/// The UI's pages as Mustache templates, compiled into the binary (no files to ship, no build
/// step). `{{name}}` escapes HTML; the templates never use the unescaped `{{{ }}}` form.
enum WebTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [
            ("header", header), ("footer", footer), ("spark", spark), ("sign-in", signIn), ("events", events), ("event", event), ("problem", problem),
            ("feeds", feeds), ("feed-secret", feedSecret), ("integrity", integrity), ("collectors", collectors), ("destinations", destinations), ("workflows", workflows),
        ] {
            // The templates are constants of this file; a syntax error in one is a programming error.
            try! library.register(text, named: name)
        }
        return library
    }()

    static func render(_ name: String, _ values: [String: Any]) -> String {
        library.render(values, withTemplate: name) ?? ""
    }

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Sluice</title>
        <link rel="stylesheet" href="/ui/assets/sluice.css">
        <script src="/ui/assets/sluice.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <span class="brand">Sluice</span>
          {{#user}}
          <nav aria-label="Sections">
            <a href="/ui/events"{{#onEvents}} aria-current="page"{{/onEvents}}>Audit log</a>
            <a href="/ui/feeds"{{#onFeeds}} aria-current="page"{{/onFeeds}}>Feeds</a>
            <a href="/ui/collectors"{{#onCollectors}} aria-current="page"{{/onCollectors}}>Collectors</a>
            <a href="/ui/destinations"{{#onDestinations}} aria-current="page"{{/onDestinations}}>Destinations</a>
            <a href="/ui/workflows"{{#onWorkflows}} aria-current="page"{{/onWorkflows}}>Workflows</a>
          </nav>
          <form class="signout" method="post" action="/ui/sign-out">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <span>{{name}} ({{role}})</span> <button type="submit">Sign out</button>
          </form>
          {{/user}}
        </header>
        {{#strip}}<p class="strip" role="status"><strong>Silent:</strong> {{#sources}}<a href="/ui/{{page}}">{{name}}</a> since {{since}}. {{/sources}}</p>{{/strip}}
        <main id="main">
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        """

    /// Events per hour over the last 24 hours, as bars (``WebPages/sparkline(_:endingAt:offsetMinutes:)``).
    static let spark = """
        {{#spark}}<svg class="spark" viewBox="0 0 {{viewWidth}} 20" width="{{viewWidth}}" height="20" role="img" aria-label="{{label}}">\
        <line x1="0" y1="19.5" x2="{{viewWidth}}" y2="19.5"></line>{{#bars}}<rect x="{{x}}" y="{{y}}" width="{{barWidth}}" height="{{height}}"><title>{{title}}</title></rect>{{/bars}}</svg>{{/spark}}
        """

    static let footer = """
        </main>
        </body>
        </html>
        """

    static let signIn = """
        {{> header}}
        <h1>Sign in</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/ui/sign-in" class="signin">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="token">Admin or viewer token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
          <button type="submit">Sign in</button>
        </form>
        <p class="hint">The tokens are those of <code>server.admin_tokens</code> in the configuration. Viewers can look; only admins can change things.</p>
        {{> footer}}
        """

    static let events = """
        {{> header}}
        <h1>Audit log</h1>
        <form method="get" action="/ui/events" class="filters" aria-label="Filters">
          {{#filters}}
          <div class="field"><label for="f-{{name}}">{{label}}</label><input id="f-{{name}}" name="{{name}}" value="{{value}}" placeholder="{{hint}}"></div>
          {{/filters}}
          <div class="field"><label for="f-zone">Dates are in</label><select id="f-zone" name="zone">
            <option value="utc"{{^local}} selected{{/local}}>UTC</option><option value="local"{{#local}} selected{{/local}}>this browser's time zone</option>
          </select><input type="hidden" name="tz" value="{{tz}}" data-browser-offset></div>
          <div class="actions"><button type="submit">Filter</button> <a href="/ui/events">Clear</a></div>
        </form>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{#integrity}}<p class="hint" role="status" id="integrity">Integrity: {{#verified}}{{verified}} {{/verified}}{{#broken}}<strong>{{broken}}</strong> {{/broken}}{{newest}} <a href="/ui/integrity">Verify now</a></p>{{/integrity}}
        <p class="export">Export this filter: <a href="{{exportCSV}}">CSV</a> · <a href="{{exportNDJSON}}">NDJSON</a></p>
        {{#chart}}<figure class="chart" id="histogram">
          <svg viewBox="0 0 600 80" preserveAspectRatio="none" width="100%" height="80" role="img" aria-label="{{label}}">\
        <line x1="0" y1="79.5" x2="600" y2="79.5"></line>{{#bars}}<a href="{{href}}" data-start="{{start}}" data-end="{{end}}" data-events="{{events}}"><rect x="{{x}}" y="0" width="{{width}}" height="80" class="slot"></rect><rect x="{{x}}" y="{{y}}" width="{{width}}" height="{{height}}"></rect><title>{{title}}</title></a>{{/bars}}</svg>
          <figcaption>{{total}} matching events, {{width}} a bar, {{from}} to {{to}}. A bar opens its time range.{{#countedFrom}} The text search counted only events from {{countedFrom}} on.{{/countedFrom}}</figcaption>
        </figure>{{/chart}}
        <div class="with-facets">
        {{#facets}}<aside class="facets" aria-label="Top values">
          {{#fields}}<section data-field="{{name}}"><h2>{{title}}</h2><ol>{{#values}}<li><a href="{{href}}">{{value}}</a> <span class="muted">{{events}}</span></li>{{/values}}{{^values}}<li class="muted">none</li>{{/values}}</ol></section>{{/fields}}
          <p class="hint">{{^complete}}Top values among the newest {{counted}} matching events.{{/complete}}{{#complete}}Counted over all {{counted}} matching events.{{/complete}}</p>
        </aside>{{/facets}}
        <div>
        <table>
          <caption>Newest first. Times are {{zoneName}}.</caption>
          <thead><tr><th scope="col">Occurred</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Targets</th><th scope="col">Feed</th><th scope="col">Log type</th></tr></thead>
          <tbody>
          {{#events}}
          <tr>
            <td><a href="/ui/events/{{id}}">{{time}}</a></td>
            <td>{{action}}</td>
            <td>{{actor}}{{#actorType}} <span class="muted">({{actorType}})</span>{{/actorType}}</td>
            <td>{{targets}}</td>
            <td>{{feed}}</td>
            <td>{{logType}}</td>
          </tr>
          {{/events}}
          {{^events}}<tr><td colspan="6">No event matches this filter.</td></tr>{{/events}}
          </tbody>
        </table>
        {{#partial}}<p class="hint" role="status">The text search read a bounded slice of older events without filling this page; "Older" searches on from where it stopped. A date range or another filter makes it faster.</p>{{/partial}}
        <nav class="pages" aria-label="Pages">{{#first}}<a href="{{first}}">Newest</a>{{/first}} {{#older}}<a href="{{older}}" rel="next">Older →</a>{{/older}}</nav>
        </div>
        </div>
        {{> footer}}
        """

    static let integrity = """
        {{> header}}
        <h1>Integrity</h1>
        {{#off}}<p class="error" role="alert">Integrity is off on this instance (integrity.enabled: false).</p>{{/off}}
        {{#report}}
        {{#none}}<p role="status" id="verdict">Nothing proven yet: no checkpoint has been written (the first comes within integrity.interval of the first event).</p>{{/none}}
        {{^none}}<p role="status" id="verdict">{{#intact}}Intact: {{/intact}}{{^intact}}<strong>Not intact:</strong> {{/intact}}{{checkpoints}} checkpoints, {{verified}} events verified{{#through}} through seq {{lastSeq}} (checkpoint seq {{checkpointSeq}}, {{time}}){{/through}}.</p>{{/none}}
        {{#pending}}<p class="hint">{{pending}} events are newer than the last checkpoint; the next checkpoint covers them.</p>{{/pending}}
        {{#purged}}<p class="hint">{{purged}} covered events were purged by retention (recorded in the audit log).</p>{{/purged}}
        {{#problems.0}}<ul class="problems">{{/problems.0}}{{#problems}}<li>{{.}}</li>{{/problems}}{{#problems.0}}</ul>{{/problems.0}}
        {{/report}}
        <p class="hint">Every event's leaf and every checkpoint was recomputed and checked against the key <code>{{keyID}}</code>; see docs/integrity.md. <code>sluice verify</code> does the same from the command line.</p>
        {{> footer}}
        """

    static let event = """
        {{> header}}
        <p><a href="/ui/events">← Audit log</a></p>
        <h1>{{action}}</h1>
        <table class="fields">
          <tbody>
          {{#fields}}<tr><th scope="row">{{label}}</th><td>{{value}}</td></tr>{{/fields}}
          </tbody>
        </table>
        <h2>Targets</h2>
        <table>
          <thead><tr><th scope="col">Type</th><th scope="col">Id</th><th scope="col">Name</th></tr></thead>
          <tbody>
          {{#targets}}<tr><td>{{type}}</td><td>{{id}}</td><td>{{name}}</td></tr>{{/targets}}
          {{^targets}}<tr><td colspan="3">None</td></tr>{{/targets}}
          </tbody>
        </table>
        <h2>Raw JSON, as received</h2>
        <pre class="raw"><code>{{raw}}</code></pre>
        {{> footer}}
        """

    static let problem = """
        {{> header}}
        <h1>{{title}}</h1>
        <p class="error" role="alert">{{message}}</p>
        <p><a href="/ui/events">Audit log</a></p>
        {{> footer}}
        """

    static let feeds = """
        {{> header}}
        <h1>Feeds</h1>
        <table>
          <caption>Counts are this instance's over the last 24 hours (since it started, if that is sooner).</caption>
          <thead><tr><th scope="col">Feed</th><th scope="col">Authentication</th><th scope="col">Log type</th><th scope="col">Newest event (occurred)</th><th scope="col">Last accepted push</th>
            <th scope="col">Events accepted</th><th scope="col">Duplicates</th><th scope="col">Requests refused</th><th scope="col">Push path</th></tr></thead>
          <tbody>
          {{#feeds}}
          <tr><th scope="row">{{name}}{{#silence}}<br><span class="{{#silent}}error silent{{/silent}}{{^silent}}muted{{/silent}}">{{text}}</span>{{/silence}}<br>{{> spark}}</th><td>{{auth}}</td><td>{{logType}}</td><td>{{lastEvent}}</td><td>{{lastPush}}</td><td>{{accepted}}</td><td>{{duplicates}}</td>
            <td>{{#rejected}}{{reason}}: {{count}}<br>{{/rejected}}{{^rejected}}0{{/rejected}}</td><td><code>{{path}}</code></td></tr>
          {{/feeds}}
          </tbody>
        </table>
        <h2 id="url-maker-title">Push URL maker</h2>
        <p class="hint">For senders that take only a URL. Sluice keeps secrets as hashes, so paste the secret here; it stays in this page and is not sent anywhere.</p>
        <form id="url-maker" class="stack" aria-labelledby="url-maker-title">
          <label for="um-feed">Feed</label>
          <select id="um-feed">{{#feeds}}{{#urlAuth}}<option value="{{path}}">{{name}}</option>{{/urlAuth}}{{/feeds}}</select>
          <label for="um-secret">Feed secret</label><input id="um-secret" type="password" autocomplete="off">
          <label for="um-key">Ingestion key (only when the instance requires one)</label><input id="um-key" type="password" autocomplete="off">
          <label for="um-url">Push URL</label><input id="um-url" readonly>
          <button type="button" data-copy="um-url">Copy URL</button>
        </form>
        <h2>Rotate a feed's secret</h2>
        {{#admin}}
        <p class="hint">A new secret is shown once. The feed's current issued secrets keep working for the grace period; secrets written in the config file stay until removed there.</p>
        {{#feeds}}{{#rotatable}}
        <form method="post" action="/ui/feeds/{{name}}/rotate" class="inline">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="grace-{{name}}">{{name}}: current secrets stay valid for</label>
          <select id="grace-{{name}}" name="grace"><option value="0s">0 (stop now)</option><option value="1h">1 hour</option><option value="24h" selected>24 hours</option><option value="7d">7 days</option></select>
          <button type="submit">Rotate secret of {{name}}</button>
        </form>
        {{/rotatable}}{{/feeds}}
        {{/admin}}
        {{^admin}}<p>Only admins can rotate secrets.</p>{{/admin}}
        {{> footer}}
        """

    static let feedSecret = """
        {{> header}}
        <h1>New secret for {{feed}}</h1>
        <p class="error" role="alert">Copy it now: this is the only time Sluice shows it.</p>
        <form class="stack" id="new-secret" data-path="{{path}}" data-url-auth="{{urlAuthText}}">
          <label for="ns-secret">Secret (id {{id}})</label><input id="ns-secret" value="{{secret}}" readonly>
          <button type="button" data-copy="ns-secret">Copy secret</button>
          {{#urlAuth}}
          {{#needsKey}}<label for="ns-key">Ingestion key (to put in the URL)</label><input id="ns-key" type="password" autocomplete="off">{{/needsKey}}
          <label for="ns-url">Push URL</label><input id="ns-url" readonly>
          <button type="button" data-copy="ns-url">Copy URL</button>
          {{/urlAuth}}
        </form>
        <h2>Secrets being retired</h2>
        <ul>{{#retiring}}<li>id {{id}}: accepted until {{until}}</li>{{/retiring}}{{^retiring}}<li>None: this is the feed's first issued secret.</li>{{/retiring}}</ul>
        <p><a href="/ui/feeds">← Feeds</a></p>
        {{> footer}}
        """

    static let collectors = """
        {{> header}}
        <h1>Collectors</h1>
        {{#collectors}}
        <section aria-labelledby="c-{{name}}">
        <h2 id="c-{{name}}">{{name}} <span class="muted">{{type}} · {{schedule}} · next run {{nextRun}}</span></h2>
        {{#silence}}<p class="{{#silent}}error silent{{/silent}}{{^silent}}muted{{/silent}}">{{text}}</p>{{/silence}}
        <p>{{> spark}}</p>
        <table>
          <thead><tr><th scope="col">Stream</th><th scope="col">State</th><th scope="col">Checkpoint</th><th scope="col">Moved</th><th scope="col">Last run</th>
            <th scope="col">Pages</th><th scope="col">New / duplicate</th><th scope="col">Requests (429s)</th><th scope="col">Last error</th></tr></thead>
          <tbody>
          {{#streams}}
          <tr><th scope="row">{{stream}}</th><td>{{running}}</td><td><code>{{checkpoint}}</code></td><td>{{updated}}</td><td>{{outcome}} {{started}} → {{finished}}</td>
            <td>{{pages}}</td><td>{{eventsNew}} / {{eventsDuplicate}}</td><td>{{requests}} ({{throttled}})</td><td class="error">{{error}}</td></tr>
          {{/streams}}
          </tbody>
        </table>
        {{#admin}}
        <div class="controls">
        <form method="post" action="/ui/collectors/{{name}}/run"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Run {{name}} now</button></form>
        <form method="post" action="/ui/collectors/{{name}}/backfill" class="inline">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="bf-since-{{name}}">Backfill from</label><input id="bf-since-{{name}}" name="since" type="date" required>
          <label for="bf-until-{{name}}">until</label><input id="bf-until-{{name}}" name="until" type="date" required>
          <button type="submit">Start backfill</button>
        </form>
        <form method="post" action="/ui/collectors/{{name}}/rewind" class="inline">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="rw-stream-{{name}}">Rewind stream</label>
          <select id="rw-stream-{{name}}" name="stream">{{#streams}}<option>{{stream}}</option>{{/streams}}</select>
          <label for="rw-to-{{name}}">to (UTC)</label><input id="rw-to-{{name}}" name="to" type="datetime-local" required>
          <input id="rw-confirm-{{name}}" name="confirm" type="checkbox" value="yes" required>
          <label for="rw-confirm-{{name}}">I understand the stream reads again from this time</label>
          <button type="submit">Rewind</button>
        </form>
        </div>
        {{/admin}}
        </section>
        {{/collectors}}
        {{^collectors}}<p>No collectors are configured.</p>{{/collectors}}
        {{> footer}}
        """

    static let destinations = """
        {{> header}}
        <h1>Destinations</h1>
        {{#destinations}}
        <section aria-labelledby="d-{{name}}">
        <h2 id="d-{{name}}">{{name}} <span class="muted">{{type}}</span></h2>
        <table class="fields"><tbody>
          <tr><th scope="row">Lag</th><td>{{lag}}{{#lagCapped}}+{{/lagCapped}} events, {{lagSeconds}} s<br>{{> spark}}</td></tr>
          <tr><th scope="row">Last success</th><td>{{lastSuccess}}</td></tr>
          <tr><th scope="row">Last error</th><td class="error">{{lastError}}</td></tr>
          <tr><th scope="row">State</th><td>{{#paused}}paused: {{pausedReason}}{{/paused}}{{^paused}}sending{{/paused}}</td></tr>
          <tr><th scope="row">Delivered / retried</th><td>{{delivered}} / {{retried}}</td></tr>
          <tr><th scope="row">Dead letters</th><td>{{deadLetters}}</td></tr>
        </tbody></table>
        {{#hasLetters}}
        <table>
          <caption>Dead letters (first 20)</caption>
          <thead><tr><th scope="col">Event seq</th><th scope="col">Reason</th><th scope="col">Attempts</th><th scope="col">At</th><th scope="col">Re-drive queued</th></tr></thead>
          <tbody>{{#letters}}<tr><td>{{seq}}</td><td>{{reason}}</td><td>{{attempts}}</td><td>{{at}}</td><td>{{#queued}}yes{{/queued}}{{^queued}}no{{/queued}}</td></tr>{{/letters}}</tbody>
        </table>
        {{/hasLetters}}
        {{#admin}}
        <div class="controls">
        {{#hasLetters}}<form method="post" action="/ui/destinations/{{name}}/redrive"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Re-drive every dead letter of {{name}}</button></form>{{/hasLetters}}
        {{#paused}}<form method="post" action="/ui/destinations/{{name}}/resume"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Resume {{name}}</button></form>{{/paused}}
        {{^paused}}<form method="post" action="/ui/destinations/{{name}}/pause" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
          <label for="pause-{{name}}">Reason</label><input id="pause-{{name}}" name="reason" required maxlength="500"><button type="submit">Pause {{name}}</button></form>{{/paused}}
        </div>
        {{/admin}}
        </section>
        {{/destinations}}
        {{^destinations}}<p>No destinations are configured.</p>{{/destinations}}
        {{> footer}}
        """

    static let workflows = """
        {{> header}}
        <h1>Workflows</h1>
        {{#workflows}}
        <section aria-labelledby="w-{{name}}">
        <h2 id="w-{{name}}">{{name}}</h2>
        <p>Runs by status: {{#runs}}<span class="pill">{{status}} {{count}}</span> {{/runs}} · incidents created {{incidents}} · lag {{lag}} events</p>
        <table>
          <caption>Latest failed or retrying runs</caption>
          <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Step</th><th scope="col">Error</th><th scope="col">Attempts</th><th scope="col">Updated</th>{{#admin}}<th scope="col">Action</th>{{/admin}}</tr></thead>
          <tbody>
          {{#failures}}
          <tr><td>{{id}}</td><td>{{status}}</td><td>{{step}}</td><td>{{detail}}</td><td>{{attempts}}</td><td>{{updated}}</td>
            {{#admin}}<td><form method="post" action="/ui/workflows/{{workflow}}/runs/{{id}}/retry"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Retry run {{id}} from {{step}}</button></form></td>{{/admin}}</tr>
          {{/failures}}
          {{^failures}}<tr><td colspan="7">No failed runs.</td></tr>{{/failures}}
          </tbody>
        </table>
        </section>
        {{/workflows}}
        {{^workflows}}<p>No workflows are configured.</p>{{/workflows}}
        <h2>Incidents</h2>
        <table>
          <thead><tr><th scope="col">Workflow</th><th scope="col">Title</th><th scope="col">Remote id</th><th scope="col">External id</th><th scope="col">Run</th><th scope="col">Outcome</th><th scope="col">At</th></tr></thead>
          <tbody>
          {{#incidents}}
          <tr><td>{{workflow}}</td><td>{{title}}</td><td>{{#link}}<a href="{{link}}" rel="noreferrer">{{remoteID}}</a>{{/link}}{{^link}}{{remoteID}}{{/link}}</td><td><code>{{externalID}}</code></td><td>{{run}}</td><td>{{created}}</td><td>{{at}}</td></tr>
          {{/incidents}}
          {{^incidents}}<tr><td colspan="7">No incidents yet.</td></tr>{{/incidents}}
          </tbody>
        </table>
        {{> footer}}
        """

    /// Copy buttons, the push-URL maker and the browser's time zone for date filters. The pages
    /// work without it, except copying and building URLs.
    static let script = """
        "use strict";
        document.addEventListener("click", (event) => {
          const button = event.target.closest("[data-copy]");
          if (!button) return;
          const field = document.getElementById(button.dataset.copy);
          field.select();
          const done = () => { button.textContent = "Copied"; };
          if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, () => { document.execCommand("copy"); done(); }); }
          else { document.execCommand("copy"); done(); }
        });
        function pushURL(path, secret, key) {
          const query = new URLSearchParams();
          if (key) query.set("key", key);
          if (secret) query.set("secret", secret);
          return location.origin + path + (secret ? "?" + query.toString() : "");
        }
        function wireMaker() {
          const maker = document.getElementById("url-maker");
          if (!maker) return;
          const build = () => {
            const feed = document.getElementById("um-feed");
            document.getElementById("um-url").value = feed.value ? pushURL(feed.value, document.getElementById("um-secret").value, document.getElementById("um-key").value) : "";
          };
          maker.addEventListener("input", build);
          build();
        }
        function wireNewSecret() {
          const form = document.getElementById("new-secret");
          if (!form || form.dataset.urlAuth !== "true") return;
          const build = () => {
            const key = document.getElementById("ns-key");
            document.getElementById("ns-url").value = pushURL(form.dataset.path, document.getElementById("ns-secret").value, key ? key.value : "");
          };
          form.addEventListener("input", build);
          build();
        }
        document.addEventListener("DOMContentLoaded", () => {
          for (const field of document.querySelectorAll("[data-browser-offset]")) field.value = String(-new Date().getTimezoneOffset());
          wireMaker();
          wireNewSecret();
        });
        """

    /// Plain, high-contrast styles; readable at 1280×800 and without them.
    static let stylesheet = """
        :root { color-scheme: light; --ink: #111; --muted: #555; --line: #ccc; --accent: #0b4f9c; --bad: #a10000; }
        body { font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: #fff; margin: 0; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px; }
        .top { display: flex; gap: 24px; align-items: center; padding: 10px 24px; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; } .top nav a { margin-right: 16px; } .signout { margin-left: auto; }
        main { padding: 16px 24px; max-width: 1400px; }
        a { color: var(--accent); } a:focus, button:focus, input:focus { outline: 3px solid #f2b600; outline-offset: 1px; }
        table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
        th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; overflow-wrap: break-word; }
        caption { text-align: left; color: var(--muted); padding: 4px 0; }
        .filters { display: grid; grid-template-columns: repeat(5, minmax(150px, 1fr)); gap: 8px 12px; margin-bottom: 8px; }
        .field label { display: block; font-size: 13px; color: var(--muted); } .field input { width: 100%; box-sizing: border-box; padding: 4px; }
        .actions { align-self: end; } .muted { color: var(--muted); } .error { color: var(--bad); font-weight: 600; }
        .chart { margin: .5rem 0 1rem; } .chart svg { display: block; } .chart rect { fill: var(--accent); } .chart rect.slot { fill: transparent; } .chart a:hover rect.slot { fill: var(--line); } .chart line { stroke: var(--line); } .chart figcaption { font-size: .85rem; color: var(--muted); }
        .with-facets { display: grid; grid-template-columns: minmax(10rem, 16rem) 1fr; gap: 1rem; align-items: start; } .facets h2 { font-size: .95rem; margin: .5rem 0 .2rem; } .facets ol { margin: 0; padding-left: 1.2rem; font-size: .85rem; } .facets li { overflow-wrap: anywhere; }
        .spark rect { fill: var(--accent); } .spark line { stroke: var(--line); } .strip { margin: 0; padding: .4rem 1rem; background: var(--bad); color: #fff; } .strip a { color: #fff; }
        .signin { display: grid; gap: 8px; max-width: 360px; } .raw { background: #f4f4f4; padding: 12px; overflow: auto; white-space: pre-wrap; }
        .fields th { width: 180px; color: var(--muted); font-weight: 600; } .pages a { margin-right: 16px; }
        .notice { background: #e8f2e8; border: 1px solid #3a7d3a; padding: 8px 12px; }
        .stack { display: grid; gap: 6px; max-width: 640px; } .stack input, .stack select { padding: 4px; }
        .inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
        .controls { border-top: 1px dashed var(--line); padding-top: 8px; margin-bottom: 24px; }
        .pill { border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; }
        button { font: inherit; padding: 4px 12px; } select { font: inherit; }
        """
}
