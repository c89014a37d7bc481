// What the browser scripts share: settings from the environment, the system's headless Chromium
// through playwright-core, one line per check, and the chart geometry checks.

import { chromium } from 'playwright-core';

export const bound = { timeout: 15000 }; // a bound against a hung page, not a synchronisation

// The variable's value; exits 2 (a setup error) when it is missing and has no fallback.
export function env(name, fallback) {
    const v = process.env[name] ?? fallback;
    if (v === undefined) {
        console.error(`${name} is not set`);
        process.exit(2);
    }
    return v;
}

export const check = (what) => console.log(`ok: ${what}`);

export function launch() {
    return chromium.launch({
        executablePath: env('EW_CHROMIUM', '/usr/bin/chromium'),
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
               '--disable-dev-shm-usage'],
    });
}

// Records script errors and Content-Security-Policy violations of `page`: the returned arrays
// must stay empty.
export async function watchPage(page) {
    const errors = [];
    const violations = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.exposeFunction('__ewViolation', (v) => violations.push(v));
    await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation',
            (e) => window.__ewViolation(`${e.violatedDirective} ${e.blockedURI}`));
    });
    return { errors, violations };
}

// Runs `body(browser)`; on a failure prints it, saves a screenshot of the first page to
// `screenshot` and exits 1; exits 0 when every check passed.
export async function run(screenshot, body) {
    const browser = await launch();
    let failed = false;
    try {
        await body(browser);
    } catch (e) {
        failed = true;
        console.log(`FAILED: ${e.stack ?? e.message}`);
        try {
            const pages = browser.contexts().flatMap((c) => c.pages());
            if (pages.length > 0) await pages[0].screenshot({ path: screenshot, fullPage: true });
        } catch {
            // the failure above is what matters
        }
    } finally {
        await browser.close();
    }
    process.exit(failed ? 1 : 0);
}

// The chart `svgSelector` as laid out: the bounding boxes (page coordinates) of its bars, its
// legend entries, its axis labels and of the SVG itself.
export async function chartBoxes(page, svgSelector) {
    return page.$eval(svgSelector, (svg) => {
        const box = (el) => {
            const r = el.getBoundingClientRect();
            return { left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                     text: el.textContent.slice(0, 60) };
        };
        return {
            svg: box(svg),
            bars: [...svg.querySelectorAll('.bar')].map(box),
            legend: [...svg.querySelectorAll('.legend-item')].map((g) => {
                // The entry as drawn: its swatch and its text (not its <title>).
                const parts = [...g.querySelectorAll('rect, text')].map(box);
                return {
                    left: Math.min(...parts.map((p) => p.left)),
                    top: Math.min(...parts.map((p) => p.top)),
                    right: Math.max(...parts.map((p) => p.right)),
                    bottom: Math.max(...parts.map((p) => p.bottom)),
                    text: g.querySelector('text').textContent,
                };
            }),
            labels: [...svg.querySelectorAll('.axis-label')].map(box),
        };
    });
}

const intersects = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

// Asserts that no legend entry of the chart covers a bar, an axis label or another entry, and
// that every entry lies inside the SVG. Returns the boxes.
export async function assertLegendClear(page, svgSelector, minEntries) {
    const c = await chartBoxes(page, svgSelector);
    if (c.legend.length < minEntries)
        throw new Error(`${svgSelector}: ${c.legend.length} legend entries, expected ${minEntries}+`);
    if (c.bars.length === 0) throw new Error(`${svgSelector}: no bars`);
    for (const l of c.legend) {
        for (const b of c.bars)
            if (intersects(l, b))
                throw new Error(`${svgSelector}: legend "${l.text}" covers a bar ${JSON.stringify(b)}`);
        for (const a of c.labels)
            if (intersects(l, a))
                throw new Error(`${svgSelector}: legend "${l.text}" covers axis label "${a.text}"`);
        for (const o of c.legend)
            if (o !== l && intersects(l, o))
                throw new Error(`${svgSelector}: legend "${l.text}" covers legend "${o.text}"`);
        if (l.left < c.svg.left - 0.5 || l.right > c.svg.right + 0.5 || l.bottom > c.svg.bottom + 0.5)
            throw new Error(`${svgSelector}: legend "${l.text}" leaves the chart ` +
                            `${JSON.stringify(l)} ${JSON.stringify(c.svg)}`);
    }
    return c;
}
