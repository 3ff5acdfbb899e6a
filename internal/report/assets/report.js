// Draws the report's charts from REPORT (written by internal/report).
// Values are floats to draw with; every number shown to a person comes
// from the exact labels beside them.
(function () {
  'use strict';
  const D = REPORT;
  const palette = ['#f22f46', '#2f6fde', '#15a36a', '#f2a81d', '#8b4ed8', '#0fa5b8', '#e5663a', '#5f6b7a', '#c23c8c', '#93a3b8', '#6b8e23', '#b8860b'];
  const charts = [];
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

  function draw(id, option) {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = echarts.init(el, null, { renderer: 'svg' });
    chart.setOption(Object.assign({
      animation: false,
      color: palette,
      textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif' },
    }, option));
    charts.push(chart);
  }

  const axisTooltip = (x, series, total, extra) => ({
    trigger: 'axis',
    axisPointer: { type: 'shadow' },
    formatter: (params) => {
      const i = params[0].dataIndex;
      const lines = [`<strong>${esc(x[i])}</strong>`];
      series.forEach((s) => { if (s.labels[i] && s.values[i] !== 0) lines.push(`${esc(s.name)}: ${esc(s.labels[i])}`); });
      if (total) lines.push(`<strong>Total: ${esc(total[i])}</strong>`);
      if (extra) { const e = extra(x[i]); if (e) lines.push(e); }
      return lines.join('<br>');
    },
  });

  function stackedBars(id, c, unit, marks) {
    const series = c.series.map((s) => ({ name: s.name, type: 'bar', stack: 'total', data: s.values, barMaxWidth: 28, emphasis: { focus: 'series' } }));
    let extra = null;
    if (marks && marks.length) {
      series.push({
        name: 'Anomalies', type: 'scatter', symbol: 'pin', symbolSize: 34, z: 10,
        itemStyle: { color: '#c62828' }, data: marks.map((m) => [m.x, m.y]),
      });
      const byX = {};
      marks.forEach((m) => { byX[m.x] = m.label; });
      extra = (x) => byX[x] ? '<span style="color:#c62828">Anomalies:<br>' + esc(byX[x]).replace(/\n/g, '<br>') + '</span>' : '';
    }
    draw(id, {
      legend: { type: 'scroll', top: 0 },
      grid: { left: 64, right: 16, top: 36, bottom: 48 },
      tooltip: axisTooltip(c.x, c.series, c.totals, extra),
      xAxis: { type: 'category', data: c.x },
      yAxis: { type: 'value', name: unit, nameTextStyle: { align: 'right' } },
      dataZoom: c.x.length > 60 ? [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 8 }] : [],
      series: series,
    });
  }

  function hbars(id, b, unit) {
    const names = b.names.slice().reverse();
    const values = b.values.slice().reverse();
    const labels = b.labels.slice().reverse();
    draw(id, {
      grid: { left: 8, right: 80, top: 8, bottom: 24, containLabel: true },
      tooltip: { trigger: 'item', formatter: (p) => `${esc(names[p.dataIndex])}<br><strong>${esc(labels[p.dataIndex])} ${esc(unit)}</strong>` },
      xAxis: { type: 'value' },
      yAxis: { type: 'category', data: names, axisLabel: { width: 220, overflow: 'truncate' } },
      series: [{
        type: 'bar', data: values, barMaxWidth: 18, itemStyle: { color: palette[1] },
        label: { show: true, position: 'right', formatter: (p) => labels[p.dataIndex] },
      }],
    });
  }

  if (!D.empty.daily) stackedBars('chart-daily', D.daily, D.currency, D.marks);
  if (!D.empty.accounts) hbars('chart-accounts', D.accounts, D.currency);
  if (!D.empty.categories) hbars('chart-categories', D.categories, D.currency);

  draw('chart-mtd', {
    legend: { top: 0 },
    grid: { left: 64, right: 16, top: 36, bottom: 32 },
    tooltip: {
      trigger: 'axis',
      formatter: (params) => [`Day ${params[0].axisValue}`].concat(params.map((p) => {
        const s = D.mtd.series[p.seriesIndex];
        return `${esc(s.name)}: ${esc(s.labels[p.dataIndex] || '–')} ${esc(D.currency)}`;
      })).join('<br>'),
    },
    xAxis: { type: 'category', data: D.mtd.x, name: 'day of month' },
    yAxis: { type: 'value', name: D.currency },
    series: D.mtd.series.map((s, i) => ({
      name: s.name, type: 'line', data: s.values, showSymbol: false,
      lineStyle: { width: 2, type: i === 0 ? 'dashed' : 'solid' }, itemStyle: { color: i === 0 ? '#93a3b8' : palette[0] },
    })),
  });

  D.sims.forEach((s, i) => {
    if (s.daily.x && s.daily.x.length) stackedBars('chart-sim-daily-' + i, s.daily, 'MB');
    if (s.top.names && s.top.names.length) hbars('chart-sim-top-' + i, s.top, '');
    if (s.roaming.names && s.roaming.names.length) {
      draw('chart-sim-roaming-' + i, {
        tooltip: { trigger: 'item', formatter: (p) => `${esc(s.roaming.names[p.dataIndex])}: ${esc(s.roaming.labels[p.dataIndex])} (${p.percent}%)` },
        series: [{
          type: 'pie', radius: ['35%', '70%'],
          data: s.roaming.names.map((n, j) => ({ name: n, value: s.roaming.values[j] })),
          label: { formatter: '{b} {d}%' },
        }],
      });
    }
  });

  D.anomalies.forEach((a, i) => {
    draw('chart-anomaly-' + i, {
      title: { text: a.title, textStyle: { fontSize: 13 } },
      legend: { top: 24, data: [a.cost.name, a.base.name] },
      grid: { left: 56, right: 16, top: 56, bottom: 28 },
      tooltip: {
        trigger: 'axis',
        formatter: (params) => {
          const j = params[0].dataIndex;
          const lines = [`<strong>${esc(a.x[j])}</strong>`, `${esc(a.cost.name)}: ${esc(a.cost.labels[j])}`];
          if (a.base.labels[j]) lines.push(`${esc(a.base.name)}: ${esc(a.base.labels[j])}`);
          a.points.filter((p) => p.x === a.x[j]).forEach((p) => lines.push(`<span style="color:#c62828">${esc(p.label)}</span>`));
          return lines.join('<br>');
        },
      },
      xAxis: { type: 'category', data: a.x },
      yAxis: { type: 'value', name: D.currency },
      series: [
        {
          name: a.cost.name, type: 'line', data: a.cost.values, showSymbol: false, itemStyle: { color: palette[1] },
          markPoint: { symbol: 'pin', symbolSize: 36, itemStyle: { color: '#c62828' }, label: { show: false }, data: a.points.map((p) => ({ coord: [p.x, p.y], name: p.label })) },
        },
        { name: a.base.name, type: 'line', data: a.base.values.map((v, j) => a.base.labels[j] ? v : null), showSymbol: false, lineStyle: { type: 'dashed' }, itemStyle: { color: '#5f6b7a' } },
      ],
    });
  });

  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
  document.body.setAttribute('data-charts', String(charts.length));
})();
