// The admin review page (/admin/) in the system's headless Chromium, driven by playwright-core.
// Started by tests/integration/audit_review_page_test.cpp, which runs exportwall on a trail it
// wrote and passes what to expect as JSON in EW_EXPECT:
//   EW_ADMIN_URL    http://127.0.0.1:<admin port>/admin/
//   EW_PROXY_URL    http://127.0.0.1:<proxy port> (a request there adds a record to the trail)
//   EW_ADMIN_TOKEN  the admin bearer token (the configuration holds its SHA-256)
//   EW_SCREENSHOT   where to save the PNG of the records view; the other views are saved beside
//                   it (review-access.png, review-detail-narrow.png, review-flows.png)
//   EW_CHROMIUM     the browser (default /usr/bin/chromium)
//   EW_EXPECT       {"review","blocked","blockedWebshop","reason","reasonCount","blockedSeq",
//                    "blockedReason","records","access","accessReasons","webPrefix",
//                    "shopSubstring","partnerBlocked","markup","flowNodes","flowRows",
//                    "flowLinks","flowRecords"}
// Prints one line per check; exit 0 when all passed, 1 on the first failure, 2 on a setup error.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { assertLegendClear, bound, check, env, run, watchPage } from './common.mjs';

const url = env('EW_ADMIN_URL');
const proxyUrl = env('EW_PROXY_URL');
const token = env('EW_ADMIN_TOKEN');
const screenshot = env('EW_SCREENSHOT');
const expect = JSON.parse(env('EW_EXPECT'));
const beside = (name) => path.join(path.dirname(screenshot), name);
const accessReasons = new Set(expect.accessReasons);

await run(screenshot, async (browser) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 },
                                               acceptDownloads: true });
    const page = await context.newPage();
    const watched = await watchPage(page);
    // The page itself is behind the token too: only its own document request carries it here,
    // so the API calls below prove that the page sends the token the user types.
    await context.route((u) => u.pathname === '/admin/', (route) =>
        route.continue({
            headers: { ...route.request().headers(), authorization: `Bearer ${token}` },
        }));
    const rows = '#records tbody tr';
    const rowCount = () => page.locator(rows).count();
    const waitRows = (n, p = page) =>
        p.waitForFunction(
            ([sel, want]) => document.querySelectorAll(sel).length === want, [rows, n], bound);
    const column = async (n, p = page) => p.locator(`${rows} td:nth-child(${n})`).allTextContents();
    const distinct = async (n, p = page) => [...new Set(await column(n, p))].sort();
    const seqs = async (p = page) => (await column(1, p)).map(Number);
    const apply = async (p = page) => p.click('#apply');

    // --- the page and its policy ---
    const doc = await page.goto(url, bound);
    const csp = doc.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(csp, /unsafe/);
    assert.equal(doc.headers()['x-frame-options'], 'DENY');
    check(`the page is served with a strict Content-Security-Policy: ${csp}`);
    await page.waitForFunction(
        () => document.getElementById('error').textContent.includes('401'), null, bound);
    assert.equal(await rowCount(), 0);
    check('without the token the API answers 401 and the page says so');

    // --- blocked transfers, apart from access errors ---
    await page.fill('#token', token);
    await apply();
    await waitRows(expect.review);
    assert.deepEqual(await distinct(3), ['aborted', 'blocked', 'would-block']);
    for (const reason of await column(4)) assert.ok(!accessReasons.has(reason), reason);
    check(`the default view lists the ${expect.review} blocked, aborted and would-block ` +
          'transfers and no access error');
    assert.equal(await page.getAttribute('#count', 'data-matched'), String(expect.review));
    assert.match(await page.textContent('#count'),
                 new RegExp(`Showing ${expect.review} of ${expect.review} matching records`));
    check(`the count says what it counts: "${(await page.textContent('#count')).trim()}"`);

    await page.waitForFunction(
        () => document.getElementById('chain').className === 'ok', null, bound);
    const chain = await page.textContent('#chain-text');
    assert.match(chain, new RegExp(`intact: ${expect.records} records, seq 1 to ${expect.records}`));
    assert.match(chain, /Chain verified at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s ago; kept for up to 60 s\)/);
    check(`the chain status says when it was verified and for how long it is kept: "${chain}"`);

    // --- a record written after the last verification: the status says so; verify now ---
    // (right after the first verification: the listener keeps a verification for 60 s)
    const extra = await fetch(`${proxyUrl}/no-such-route`);
    assert.equal(extra.status, 404);
    const access = expect.access + 1; // that request is an access error too
    const records = expect.records + 1;
    await page.selectOption('#show', 'access');
    await apply();
    await waitRows(access);
    await page.waitForFunction(
        () => document.getElementById('chain').className === 'stale', null, bound);
    const stale = await page.textContent('#chain-text');
    assert.match(stale, new RegExp(`intact: ${expect.records} records`));
    assert.match(stale, new RegExp(`Records after seq ${expect.records} \\(up to seq ` +
                                   `${records}\\) were written since`));
    check(`a record newer than the verification is pointed out: "${stale}"`);
    await page.click('#verify');
    await page.waitForFunction(
        (n) => document.getElementById('chain-text').textContent.includes(`intact: ${n} records`),
        records, bound);
    assert.equal(await page.getAttribute('#chain', 'class'), 'ok');
    check(`Verify now verifies at once: "${await page.textContent('#chain-text')}"`);

    assert.deepEqual(await distinct(4), [...accessReasons].sort());
    assert.deepEqual(await distinct(8), ['400', '401', '404']);
    check(`access errors are a view of their own: ${access} rows, 401, 404 and 400`);
    await page.screenshot({ path: beside('review-access.png'), fullPage: true });

    // --- exact, prefix and substring filters, and the destination ---
    await page.selectOption('#show', 'blocked');
    await page.selectOption('#decision', 'blocked');
    await apply();
    await waitRows(expect.blocked);
    assert.deepEqual(await distinct(3), ['blocked']);
    check(`decision=blocked narrows the table to ${expect.blocked} rows`);

    await page.fill('#client', 'webshop');
    await apply();
    await waitRows(expect.blockedWebshop);
    assert.deepEqual(await distinct(5), ['webshop']);
    check(`client=webshop (exact) narrows it to ${expect.blockedWebshop} rows`);

    await page.fill('#client', 'web*');
    await apply();
    await waitRows(expect.webPrefix);
    for (const c of await column(5)) assert.ok(c.startsWith('web'), c);
    assert.ok((await distinct(5)).length > 1, 'a prefix matches more than one client');
    check(`client=web* (prefix) matches ${expect.webPrefix} rows of ${(await distinct(5)).join(', ')}`);

    await page.fill('#client', '*shop*');
    await apply();
    await waitRows(expect.shopSubstring);
    for (const c of await column(5)) assert.ok(c.includes('shop'), c);
    check(`client=*shop* (substring) matches ${expect.shopSubstring} rows`);

    await page.fill('#client', '');
    await page.fill('#reason', expect.reason);
    await apply();
    await waitRows(expect.reasonCount);
    assert.deepEqual(await distinct(4), [expect.reason]);
    check(`reason=${expect.reason} narrows it to ${expect.reasonCount} rows`);

    await page.fill('#reason', '');
    await page.fill('#destination', 'partner*');
    await apply();
    await waitRows(expect.partnerBlocked);
    for (const d of await column(7)) assert.ok(d.startsWith('partner'), d);
    const partnerSeqs = await seqs();
    check(`destination=partner* narrows it to ${expect.partnerBlocked} rows`);

    // --- the filters are in the address: a colleague opening it sees the same view ---
    const shared = page.url();
    const sharedParams = new URL(shared).searchParams;
    assert.equal(sharedParams.get('decision'), 'blocked');
    assert.equal(sharedParams.get('destination'), 'partner*');
    assert.ok(!shared.includes(token), 'the token never goes into the address');
    const colleague = await context.newPage();
    const colleagueWatch = await watchPage(colleague);
    await colleague.goto(shared, bound);
    assert.equal(await colleague.inputValue('#destination'), 'partner*');
    assert.equal(await colleague.inputValue('#decision'), 'blocked');
    assert.equal(await colleague.inputValue('#show'), 'blocked');
    await colleague.waitForFunction(
        () => document.getElementById('error').textContent.includes('401'), null, bound);
    await colleague.fill('#token', token);
    await apply(colleague);
    await waitRows(expect.partnerBlocked, colleague);
    assert.deepEqual(await seqs(colleague), partnerSeqs);
    assert.deepEqual(colleagueWatch.errors, []);
    await colleague.close();
    check(`the address ${shared.slice(shared.indexOf('?'))} restores the same view in a new tab`);

    // --- downloads of the current view ---
    const saved = async (button) => {
        const [download] = await Promise.all([page.waitForEvent('download', bound),
                                              page.click(button)]);
        return { name: download.suggestedFilename(), text: await readFile(await download.path(), 'utf8') };
    };
    const csv = await saved('#download-csv');
    assert.match(csv.name, /\.csv$/);
    const lines = csv.text.trim().split(/\r?\n/);
    assert.equal(lines[0].split(',')[0], 'seq');
    assert.equal(lines.length, expect.partnerBlocked + 1);
    assert.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), partnerSeqs);
    check(`Download CSV saves the view: ${csv.name}, ${lines.length - 1} records and a header`);
    const json = await saved('#download-json');
    const downloaded = JSON.parse(json.text);
    assert.equal(downloaded.length, expect.partnerBlocked);
    for (const r of downloaded) {
        assert.equal(r.decision, 'blocked');
        assert.ok(r.destination.startsWith('partner'));
        assert.equal(r.hash.length, 64);
    }
    check(`Download JSON saves the same ${downloaded.length} records with every member`);
    const report = await saved('#download-report');
    assert.match(report.name, /\.html$/);
    assert.match(report.text, /Audit evidence report/);
    assert.match(report.text, /decision blocked; destination partner\*/);
    check(`the evidence report of the view downloads too (${report.name})`);

    // --- names from the trail are text, never markup ---
    await page.click('#clear');
    await page.selectOption('#show', 'all');
    await apply();
    await waitRows(records);
    assert.ok((await column(5)).includes(expect.markup), 'the client with markup is listed');
    assert.equal(await page.locator('#records tbody b, #records tbody img').count(), 0);
    check(`a client named ${expect.markup} shows as text, not as markup`);

    // --- the detail pane is in view when a row is selected ---
    await page.setViewportSize({ width: 1280, height: 480 });
    const last = page.locator(`${rows}[data-seq="${expect.blockedSeq}"]`);
    await last.scrollIntoViewIfNeeded();
    await page.evaluate(() => window.scrollBy(0, 200));
    await last.click();
    await page.waitForSelector('#detail:not([hidden])', bound);
    const inView = () => page.$eval('#detail', (d) => {
        const r = d.getBoundingClientRect();
        return r.top >= 0 && r.top < window.innerHeight - 40 && r.height > 40;
    });
    assert.ok(await inView(), 'the detail pane is in the viewport beside the table');
    assert.equal(await page.textContent('#detail-body .field-decision'), 'blocked');
    assert.equal(await page.textContent('#detail-body .field-reason'), expect.blockedReason);
    assert.equal(await page.textContent('#detail-body .field-seq'), String(expect.blockedSeq));
    check(`selecting seq ${expect.blockedSeq} far down the table shows its detail in view ` +
          `(${expect.blockedReason})`);
    await page.setViewportSize({ width: 760, height: 600 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.locator(`${rows}`).first().click();
    await page.waitForFunction(() => {
        const r = document.getElementById('detail').getBoundingClientRect();
        return r.top > -2 && r.top < window.innerHeight - 40; // its top (to the pixel) on screen
    }, null, bound).catch(async (e) => {
        const r = await page.$eval('#detail', (d) => JSON.stringify(
            { top: d.getBoundingClientRect().top, inner: window.innerHeight, y: window.scrollY }));
        throw new Error(`the detail is not in view: ${r} (${e.message})`);
    });
    await page.screenshot({ path: beside('review-detail-narrow.png') });
    check('in a narrow window the detail, below the table, is scrolled into view');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.keyboard.press('Escape');
    assert.ok(await page.locator('#detail').isHidden());
    check('Escape closes the detail');

    await page.selectOption('#show', 'blocked');
    await apply();
    await waitRows(expect.review);
    await page.click(`${rows}[data-seq="${expect.blockedSeq}"]`);
    await page.waitForSelector('#detail:not([hidden])', bound);
    await page.screenshot({ path: screenshot, fullPage: true });
    check(`screenshot saved to ${screenshot}`);

    // --- flows: client → purpose → destination, and volumes over time ---
    await page.click('#tab-flows');
    await page.waitForFunction(
        (n) => document.querySelectorAll('#flows-chart g.node').length === n, expect.flowNodes,
        bound);
    assert.equal(new URL(page.url()).searchParams.get('tab'), 'flows');
    assert.equal(await page.locator('#flows-table tbody tr').count(), expect.flowRows);
    assert.equal(await page.locator('#flows-chart path.link').count(), expect.flowLinks);
    assert.match(await page.textContent('#flows-summary'),
                 new RegExp(`delivered ${expect.flowRecords} record`));
    const boxes = await assertLegendClear(page, '#volume-chart', 2);
    check(`the flows view draws ${expect.flowNodes} nodes, ${expect.flowLinks} links and the volumes of ` +
          `${expect.flowRows} flows over time; its legend (${boxes.legend.length} entries) ` +
          'covers no bar');
    await page.screenshot({ path: beside('review-flows.png'), fullPage: true });
    await page.reload(bound);
    await page.waitForFunction(
        (n) => document.querySelectorAll('#flows-chart g.node').length === n, expect.flowNodes,
        bound);
    check('reloading the address keeps the flows view');

    assert.deepEqual(watched.errors, []);
    assert.deepEqual(watched.violations, []);
    check('no script error and no Content-Security-Policy violation on the page');
});
