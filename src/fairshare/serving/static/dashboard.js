// fairshare dashboard: fetch the page's JSON view and render it (tables + Plotly charts, no CDN).
const fmt = n => BigInt(n).toLocaleString('en-US');
const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
function table(head, rows, left=[0]) {
  const th = head.map((h, i) => `<th class="${left.includes(i) ? 'l' : ''}">${h}</th>`).join('');
  const tr = rows.map(r => '<tr>' + r.map((c, i) => `<td class="${left.includes(i) ? 'l' : ''}">${c}</td>`).join('') + '</tr>').join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}
async function load() {
  const r = await fetch('/api/dashboard/' + document.body.dataset.view);
  if (!r.ok) { document.getElementById('main').textContent = 'error: ' + (await r.text()); return; }
  const d = await r.json();
  document.getElementById('title').textContent = 'fairshare · ' + d.consortium;
  document.getElementById('subtitle').textContent = d.description || '';
  render(d);
}

const RENDER = {};

RENDER['overview'] = function (d) {
  const a = d.audit;
  document.getElementById('main').innerHTML = `
   <div class="cards">
    <div class="card">released model<b><code data-test="model">${d.released_model ? d.released_model.slice(0, 16) + '…' : 'none'}</code></b></div>
    <div class="card">latest accuracy<b data-test="accuracy">${d.accuracy.length ? d.accuracy[d.accuracy.length-1].accuracy.toFixed(3) : '-'}</b></div>
    <div class="card">revenue distributed<b data-test="deposited">${fmt(d.revenue.deposited)}</b></div>
    <div class="card">pending settlement<b data-test="pending">${fmt(d.revenue.pending)}</b></div>
    <div class="card">audit<b data-test="audit" class="${a.ok ? 'ok' : 'bad'}">${a.ok ? 'OK' : 'FAILED'}</b></div>
   </div>
   <div id="acc" class="chart"></div>
   ${table(['check', 'result', 'detail'], a.checks.map(c => [esc(c.name), c.ok ? '<span class="ok">ok</span>' : '<span class="bad">failed</span>', esc(c.detail)]), [0, 2])}`;
  Plotly.newPlot('acc', [{x: d.accuracy.map(r => r.round), y: d.accuracy.map(r => r.accuracy), mode: 'lines+markers', name: 'test accuracy'}],
    {title: {text: 'Model accuracy by round (coordinator test split)'}, xaxis: {title: {text: 'round'}, dtick: 1}, yaxis: {title: {text: 'accuracy'}}, margin: {t: 50}}, {displayModeBar: false});
};

RENDER['contributions'] = function (d) {
  const names = [...new Set(d.rounds.flatMap(r => Object.keys(r.shares)))];
  const traces = names.map(n => ({x: d.rounds.map(r => r.round), y: d.rounds.map(r => {
      const t = Object.values(r.shares).reduce((a, b) => a + b, 0); return t ? 100 * (r.shares[n] || 0) / t : 0; }),
    name: n, type: 'bar'}));
  const flags = d.rounds.flatMap(r => Object.entries(r.flags).map(([m, why]) => [r.round, esc(m), esc(why)]));
  const rejected = d.rounds.flatMap(r => Object.entries(r.rejected || {}).map(([m, why]) => [r.round, esc(m), esc(why)]));
  const last = d.rounds.length ? (d.rounds[d.rounds.length - 1].epsilon || {}) : {};
  const budget = Object.entries(last).map(([m, e]) => [esc(m), e.toFixed(3)]);
  document.getElementById('main').innerHTML = `<div id="share" class="chart"></div>
    <h3>Measured values (validation log-likelihood gain)</h3>
    ${table(['member', ...d.rounds.map(r => 'r' + r.round)], names.map(n => [esc(n), ...d.rounds.map(r => (r.scores[n] ?? 0).toFixed(4))]))}
    <h3>Flags</h3>${flags.length ? table(['round', 'member', 'reason'], flags, [1, 2]) : '<p>No member was flagged.</p>'}
    <h3>Refused updates</h3>${rejected.length ? table(['round', 'member', 'reason'], rejected, [1, 2]) : '<p>Every update was signed by its member for its round.</p>'}
    ${budget.length ? `<h3>Privacy budget spent (epsilon so far)</h3>${table(['member', 'epsilon'], budget, [0])}` : ''}`;
  Plotly.newPlot('share', traces, {barmode: 'stack', title: {text: 'Share of each round\'s minted shares (%)'}, xaxis: {title: {text: 'round'}, dtick: 1}, margin: {t: 50}}, {displayModeBar: false});
};

RENDER['payouts'] = function (d) {
  document.getElementById('main').innerHTML = `<div id="pay" class="chart"></div>` + table(
    ['member', 'role', 'shares', 'entitled', 'withdrawn', 'pending', 'transactions'],
    d.payouts.map(p => [esc(p.name), p.role, fmt(p.shares), `<span data-test="entitled-${esc(p.name)}">${fmt(p.entitled)}</span>`,
      `<span data-test="withdrawn-${esc(p.name)}">${fmt(p.withdrawn)}</span>`, fmt(p.pending),
      p.transactions.map(t => `<code title="${t}">${t.slice(0, 12)}…</code>`).join(' ')]), [0, 1, 6]);
  Plotly.newPlot('pay', [{type: 'bar', x: d.payouts.map(p => p.name), y: d.payouts.map(p => Number(p.entitled))}],
    {title: {text: 'Entitled payout (smallest unit)'}, margin: {t: 50}}, {displayModeBar: false});
};

RENDER['governance'] = function (d) {
  document.getElementById('main').innerHTML = table(['id', 'action', 'state', 'for', 'against', 'voters', 'executed at block'],
    d.governance.map(p => [p.id, esc(p.action), p.state, p.votes.filter(v => v.support).reduce((a, v) => a + v.weight, 0),
      p.votes.filter(v => !v.support).reduce((a, v) => a + v.weight, 0),
      p.votes.map(v => `<code>${v.voter.slice(0, 8)}…</code> ${v.support ? 'for' : 'against'} @${v.block}`).join('<br>'),
      p.executed_block ?? '-']), [1, 2, 5]) +
    table(['rule', 'value'], [['price per row', fmt(d.policy.price_per_row)], ['treasury cut', d.policy.treasury_cut_bps + ' bps'],
      ['valuation method', esc(d.policy.valuation_method)]], [0, 1]);
};

RENDER['ledger'] = function (d) {
  document.getElementById('main').innerHTML = `<p>Chain ${esc(d.chain.url)} (id ${d.chain.chain_id}); RevenueShares <code>${d.chain.revenue_shares}</code>,
    TrainingLog <code>${d.chain.training_log}</code>, Governor <code>${d.chain.governor}</code>. Verify any row: its record hash is
    keccak256 of the ABI-encoded round, and the model hash is SHA-256 of the published artifact.</p>` +
    table(['round', 'method', 'seed', 'model hash', 'record hash', 'transaction'], d.rounds.map(r =>
      [r.round, esc(r.method), r.seed, `<code>${r.model_hash}</code>`, `<code>${r.record_hash.slice(0, 18)}…</code>`, `<code>${r.tx_hash.slice(0, 18)}…</code>`]), [1, 3, 4, 5]);
};

function render(d) { RENDER[document.body.dataset.view](d); }
load();
