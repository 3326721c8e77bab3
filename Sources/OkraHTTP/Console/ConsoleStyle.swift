/// The console's stylesheet (`/console/console.css`). No inline style anywhere: the admin
/// listener's Content-Security-Policy allows styles from this file only.
enum ConsoleStyle {
    static let css = #"""
:root { color-scheme: light dark; --accent: #1f5fbf; --bad: #b3261e; --good: #1e7b34; --line: #8884; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; overflow-wrap: anywhere; }
main { padding: 0 1rem 2rem; max-width: 80rem; margin: 0 auto; }
.bar { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
.bar h1 { font-size: 1.1rem; margin: 0; flex: 1 1 auto; }
.who { margin: 0; font-size: .9rem; }
h2 { font-size: 1.05rem; margin: 1.2rem 0 .5rem; }
h3 { font-size: .95rem; margin: 1rem 0 .3rem; }
label { display: flex; flex-direction: column; gap: .15rem; font-size: .85rem; }
input, select, button { font: inherit; min-height: 2.2rem; max-width: 100%; }
input, select { padding: .25rem .4rem; }
button { padding: .25rem .8rem; border: 1px solid var(--accent); border-radius: .3rem; background: transparent; color: inherit; cursor: pointer; }
button:disabled { opacity: .55; cursor: not-allowed; border-color: var(--line); }
button.primary { background: var(--accent); color: #fff; }
:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .6rem .8rem; }
.filters .actions { grid-column: 1 / -1; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin: .6rem 0; }
.panel { border: 1px solid var(--line); border-radius: .4rem; padding: .2rem .9rem .6rem; margin: .8rem 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: .3rem 1rem; margin: 0; }
.facts div { min-width: 0; }
.facts dt { font-size: .8rem; opacity: .8; }
.facts dd { margin: 0; font-weight: 600; }
.tabs { display: flex; gap: .5rem; margin: 1rem 0 0; }
.tab[aria-pressed="true"] { background: var(--accent); color: #fff; }
.error { color: var(--bad); }
.error:empty { display: none; }
.ok { color: var(--good); }
table.rows { width: 100%; border-collapse: collapse; table-layout: fixed; }
table.rows caption { text-align: left; font-size: .85rem; opacity: .8; padding: .3rem 0; }
table.rows th, table.rows td { text-align: left; padding: .35rem .4rem; border-bottom: 1px solid var(--line); vertical-align: top; }
table.rows tbody tr:hover { background: #8881; }
.link { border: none; padding: 0; min-height: 0; color: var(--accent); text-decoration: underline; text-align: left; }
.state-parked, .state-pending { color: var(--bad); font-weight: 600; }
.state-published { color: var(--good); }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #8881; padding: .6rem; border-radius: .3rem; font-size: .85rem; }
code { overflow-wrap: anywhere; }
.hidden-label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
.needs { font-size: .8rem; opacity: .8; }
@media (max-width: 40rem) {
  table.rows thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  table.rows, table.rows tbody, table.rows tr, table.rows td { display: block; width: 100%; }
  table.rows caption { display: block; width: 100%; }
  table.rows tr { border-bottom: 1px solid var(--line); padding: .3rem 0; }
  table.rows td { border: none; padding: .1rem 0; }
  table.rows td[data-label]::before { content: attr(data-label) ": "; font-size: .8rem; opacity: .8; }
}
"""#
}
