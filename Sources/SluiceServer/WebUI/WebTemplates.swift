import Mustache

/// The UI's pages as Mustache templates, compiled into the binary (no files to ship, no build
/// step). `{{name}}` escapes HTML; the templates never use the unescaped `{{{ }}}` form.
enum WebTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [("header", header), ("footer", footer), ("sign-in", signIn), ("events", events), ("event", event), ("problem", problem)] {
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
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <span class="brand">Sluice</span>
          {{#user}}
          <nav aria-label="Sections"><a href="/ui/events"{{#onEvents}} aria-current="page"{{/onEvents}}>Audit log</a></nav>
          <form class="signout" method="post" action="/ui/sign-out">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <span>{{name}} ({{role}})</span> <button type="submit">Sign out</button>
          </form>
          {{/user}}
        </header>
        <main id="main">
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
          <div class="actions"><button type="submit">Filter</button> <a href="/ui/events">Clear</a></div>
        </form>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <p class="export">Export this filter: <a href="{{exportCSV}}">CSV</a> · <a href="{{exportNDJSON}}">NDJSON</a></p>
        <table>
          <caption>Newest first. Times are UTC.</caption>
          <thead><tr><th scope="col">Occurred (UTC)</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Targets</th><th scope="col">Feed</th><th scope="col">Log type</th></tr></thead>
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
        <nav class="pages" aria-label="Pages">{{#first}}<a href="{{first}}">Newest</a>{{/first}} {{#older}}<a href="{{older}}" rel="next">Older →</a>{{/older}}</nav>
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
        th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; overflow-wrap: anywhere; }
        caption { text-align: left; color: var(--muted); padding: 4px 0; }
        .filters { display: grid; grid-template-columns: repeat(5, minmax(150px, 1fr)); gap: 8px 12px; margin-bottom: 8px; }
        .field label { display: block; font-size: 13px; color: var(--muted); } .field input { width: 100%; box-sizing: border-box; padding: 4px; }
        .actions { align-self: end; } .muted { color: var(--muted); } .error { color: var(--bad); font-weight: 600; }
        .signin { display: grid; gap: 8px; max-width: 360px; } .raw { background: #f4f4f4; padding: 12px; overflow: auto; white-space: pre-wrap; }
        .fields th { width: 180px; color: var(--muted); font-weight: 600; } .pages a { margin-right: 16px; }
        """
}
