// fairshare dashboard: fetch the page's JSON view and render it (tables + Plotly charts, no CDN).
// Amounts arrive as exact decimal strings in the smallest unit; each is shown in the currency's unit
// (ETH, or the revenue token's symbol and decimals) with the exact smallest-unit figure beside it.
const fmt = n => BigInt(n).toLocaleString('en-US');
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
let CURRENCY = {symbol: 'ETH', decimals: 18, unit: 'wei'};

// "1234500000000000000" with 18 decimals -> "1.2345": exact, integer part grouped, trailing zeros dropped.
function units(n, decimals) {
  const v = BigInt(n), neg = v < 0n, a = neg ? -v : v, base = 10n ** BigInt(decimals);
  const frac = decimals ? (a % base).toString().padStart(decimals, '0').replace(/0+$/, '') : '';
  return (neg ? '-' : '') + (a / base).toLocaleString('en-US') + (frac ? '.' + frac : '');
}
function money(n, test) {
  const t = test ? ` data-test="${esc(test)}"` : '';
  const te = test ? ` data-test="${esc(test)}-exact"` : '';
  return `<span class="amt"><span${t}>${units(n, CURRENCY.decimals)} ${esc(CURRENCY.symbol)}</span>` +
    ` <small class="exact"${te}>${fmt(n)} ${esc(CURRENCY.unit)}</small></span>`;
}
// On a phone (dashboard.css) each row becomes a card of "label: value" lines, the label from data-label.
function table(head, rows, left = [0]) {
  const th = head.map((h, i) => `<th class="${left.includes(i) ? 'l' : ''}">${h}</th>`).join('');
  const tr = rows.map(r => '<tr>' + r.map((c, i) =>
    `<td class="${left.includes(i) ? 'l' : ''}" data-label="${esc(head[i])}">${c}</td>`).join('') + '</tr>').join('');
  return `<div class="scroll"><table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table></div>`;
}
const WORDS = `<dl class="words">
  <dt>unsettled</dt><dd>revenue billed to API customers and not yet distributed on chain (<code>fairshare settle</code> distributes it)</dd>
  <dt>withdrawable</dt><dd>what a member is entitled to on chain and has not withdrawn yet (<code>fairshare withdraw</code>)</dd></dl>`;
const PLOT = {displayModeBar: false, responsive: true};

async function load() {
  const r = await fetch('/api/dashboard/' + document.body.dataset.view);
  if (!r.ok) { document.getElementById('main').textContent = 'error: ' + (await r.text()); return; }
  const d = await r.json();
  CURRENCY = d.currency || CURRENCY;
  document.getElementById('title').textContent = 'fairshare · ' + d.consortium;
  document.getElementById('subtitle').textContent = d.description || '';
  render(d);
}

const RENDER = {};

// "torch network fairshare.examples_models:make_cnn, input 1×8×8, 10 classes, 3,658 parameters"
function describeModel(m) {
  if (!m) return '';
  const kind = m.kind === 'torch' ? `torch network ${m.factory}` : 'logistic regression';
  return `${kind}, input ${m.input_shape.join('×')}, ${m.classes} classes, ${m.parameters.toLocaleString('en')} parameters`;
}

RENDER['overview'] = function (d) {
  const a = d.audit;
  const model = d.released_model
    ? `<code data-test="model" title="${esc(d.released_model)}">${esc(d.released_model.slice(0, 16))}…</code>`
    : '<span data-test="model">none yet</span><small>the paid API answers 503 until members release a model</small>';
  document.getElementById('main').innerHTML = `
   <div class="cards">
    <div class="card">released model<b>${model}</b><small data-test="model-kind">${esc(describeModel(d.model))}</small></div>
    <div class="card">latest accuracy<b data-test="accuracy">${d.accuracy.length ? d.accuracy[d.accuracy.length-1].accuracy.toFixed(3) : '-'}</b></div>
    <div class="card">revenue distributed<b>${money(d.revenue.deposited, 'deposited')}</b></div>
    <div class="card">unsettled revenue<b>${money(d.revenue.unsettled, 'unsettled')}</b></div>
    <div class="card">audit<b data-test="audit" class="${a.ok ? 'ok' : 'bad'}">${a.ok ? 'OK' : 'FAILED'}</b></div>
   </div>
   ${WORDS}
   <div id="acc" class="chart"></div>
   ${table(['check', 'result', 'detail'], a.checks.map(c => [esc(c.name), c.ok ? '<span class="ok">ok</span>' : '<span class="bad">failed</span>', esc(c.detail)]), [0, 2])}`;
  Plotly.newPlot('acc', [{x: d.accuracy.map(r => r.round), y: d.accuracy.map(r => r.accuracy), mode: 'lines+markers', name: 'test accuracy'}],
    {title: {text: 'Model accuracy by round (coordinator test split)'}, xaxis: {title: {text: 'round'}, dtick: 1}, yaxis: {title: {text: 'accuracy'}}, margin: {t: 50, l: 50, r: 10}}, PLOT);
};

RENDER['contributions'] = function (d) {
  const names = [...new Set(d.rounds.flatMap(r => Object.keys(r.shares)))];
  // Bars are the shares each round minted (what pays), stacked by member: a round that minted more weighs more.
  const traces = names.map(n => ({x: d.rounds.map(r => r.round), y: d.rounds.map(r => Number(r.shares[n] || 0)),
    name: n, type: 'bar', hovertemplate: `${n}: %{y:,} shares in round %{x}<extra></extra>`}));
  const flags = d.rounds.flatMap(r => Object.entries(r.flags).map(([m, why]) => [r.round, esc(m), esc(why)]));
  const rejected = d.rounds.flatMap(r => Object.entries(r.rejected || {}).map(([m, why]) => [r.round, esc(m), esc(why)]));
  const scorers = d.rounds.map(r => [r.round, esc(r.scorer || 'single scorer'), esc((r.revealed || []).join(', ')),
    `<span data-test="missing-${r.round}">${esc((r.missing || []).join(', ') || '-')}</span>`,
    esc(Object.entries(r.outliers || {}).map(([v, x]) => `${v} (${x.toFixed(2)})`).join(', ') || '-')]);
  const last = d.rounds.length ? (d.rounds[d.rounds.length - 1].epsilon || {}) : {};
  const budget = Object.entries(last).map(([m, e]) => [esc(m), e.toFixed(3)]);
  const minted = names.map(n => [esc(n), ...d.rounds.map(r => fmt(r.shares[n] || 0)),
    `<span data-test="shares-${esc(n)}">${fmt(d.rounds.reduce((a, r) => a + BigInt(r.shares[n] || 0), 0n))}</span>`]);
  document.getElementById('main').innerHTML = `<div id="share" class="chart"></div>
    <h3>Shares minted</h3>
    ${table(['member', ...d.rounds.map(r => 'r' + r.round), 'total'], minted)}
    <h3>Measured values (validation log-likelihood gain)</h3>
    ${table(['member', ...d.rounds.map(r => 'r' + r.round)], names.map(n => [esc(n), ...d.rounds.map(r => (r.scores[n] ?? 0).toFixed(4))]))}
    <h3>Who scored each round</h3>
    <p>"committee": the scores are the validators' weighted medians; "single scorer": the coordinator's own values.
    A validator that missed its reveal or sat far from the medians is named here; governance can remove it.</p>
    ${table(['round', 'scorer', 'revealed', 'missed its reveal', 'outliers (distance)'], scorers, [1, 2, 3, 4])}
    <h3>Flags</h3>${flags.length ? table(['round', 'member', 'reason'], flags, [1, 2]) : '<p>No member was flagged.</p>'}
    <h3>Refused updates</h3>${rejected.length ? table(['round', 'member', 'reason'], rejected, [1, 2]) : '<p>Every update was signed by its member for its round.</p>'}
    ${budget.length ? `<h3>Privacy budget spent (epsilon so far)</h3>${table(['member', 'epsilon'], budget, [0])}` : ''}`;
  Plotly.newPlot('share', traces, {barmode: 'stack', title: {text: 'Shares minted per round, by member'},
    xaxis: {title: {text: 'round'}, dtick: 1}, yaxis: {title: {text: 'shares'}}, margin: {t: 50, l: 60, r: 10}}, PLOT);
};

RENDER['payouts'] = function (d) {
  document.getElementById('main').innerHTML = WORDS + `<div id="pay" class="chart"></div>` + table(
    ['member', 'role', 'shares', 'entitled', 'withdrawn', 'withdrawable', 'transactions'],
    d.payouts.map(p => [esc(p.name), p.role, fmt(p.shares), money(p.entitled, 'entitled-' + p.name),
      money(p.withdrawn, 'withdrawn-' + p.name), money(p.withdrawable, 'withdrawable-' + p.name),
      p.transactions.map(t => `<code title="${esc(t)}">${esc(t.slice(0, 12))}…</code>`).join(' ')]), [0, 1, 6]);
  Plotly.newPlot('pay', [{type: 'bar', x: d.payouts.map(p => p.name), y: d.payouts.map(p => Number(p.entitled) / 10 ** CURRENCY.decimals)}],
    {title: {text: `Entitled payout (${CURRENCY.symbol})`}, margin: {t: 50, l: 60, r: 10}}, PLOT);
};

RENDER['governance'] = function (d) {
  const sum = (votes, support) => fmt(votes.filter(v => v.support === support).reduce((a, v) => a + BigInt(v.weight), 0n));
  document.getElementById('main').innerHTML = table(['id', 'action', 'proposer', 'state', 'for', 'against', 'voters', 'executed at block'],
    d.governance.map(p => [p.id, esc(p.action), `<span title="${esc(p.proposer)}">${esc(p.proposer_name)}</span>`, p.state,
      sum(p.votes, true), sum(p.votes, false),
      p.votes.map(v => `<span data-test="voter" title="${esc(v.voter)}">${esc(v.name)}</span> ${v.support ? "for" : "against"} (block ${v.block})`).join('<br>'),
      p.executed_block ?? '-']), [1, 2, 3, 6]) +
    table(['rule', 'value'], [['price per row', money(d.policy.price_per_row)], ['treasury cut', d.policy.treasury_cut_bps + ' bps'],
      ['valuation method', esc(d.policy.valuation_method)]], [0, 1]);
};

RENDER['ledger'] = function (d) {
  document.getElementById('main').innerHTML = `<p>Chain ${esc(d.chain.url)} (id ${d.chain.chain_id}); RevenueShares <code>${esc(d.chain.revenue_shares)}</code>,
    TrainingLog <code>${esc(d.chain.training_log)}</code>, Governor <code>${esc(d.chain.governor)}</code>. Verify any row: its record hash is
    keccak256 of the ABI-encoded round, and the model hash is SHA-256 of the published artifact.</p>` +
    table(['round', 'method', 'seed', 'model hash', 'record hash', 'transaction'], d.rounds.map(r =>
      [r.round, esc(r.method), r.seed, `<code>${esc(r.model_hash)}</code>`,
       `<code title="${esc(r.record_hash)}">${esc(r.record_hash.slice(0, 18))}…</code>`, `<code title="${esc(r.tx_hash)}">${esc(r.tx_hash.slice(0, 18))}…</code>`]), [1, 3, 4, 5]);
};

function render(d) { RENDER[document.body.dataset.view](d); }
load();
