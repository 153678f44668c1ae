// Pages of list results, and the promise that is also an async iterator
// over every item of every page.

/**
 * One page of a list: `data` (the items) and `has_more`. `getNextPage()`
 * fetches the next one; iterating a page with `for await` yields its items
 * and then those of every following page.
 */
export class Page {
  #next;

  constructor(body, items, next) {
    /** The items of this page. */
    this.data = items;
    /** Whether the server has more after this page. */
    this.has_more = Boolean(body?.has_more);
    this.#next = next;
  }

  /** Whether there is a page after this one. */
  hasNextPage() {
    return this.has_more && this.data.length > 0 && typeof this.#next === 'function';
  }

  /** The next page, or null after the last. */
  async getNextPage() {
    if (!this.hasNextPage()) return null;
    return this.#next(this);
  }

  /** This page and every following one. */
  async *iterPages() {
    for (let page = this; page; page = await page.getNextPage()) yield page;
  }

  /** Every item of this page and the following ones, fetching pages as needed. */
  async *[Symbol.asyncIterator]() {
    for await (const page of this.iterPages()) yield* page.data;
  }
}

/**
 * A Promise of the first Page that is also an async iterable over every
 * item of every page:
 *
 *   const page = await client.callbacks.list({ limit: 50 });
 *   for await (const cb of client.callbacks.list({ status: 'scheduled' })) { ... }
 */
export class PagePromise extends Promise {
  // then/catch/finally return plain Promises.
  static get [Symbol.species]() {
    return Promise;
  }

  /** A PagePromise of what `fetchFirst()` resolves to. */
  static of(fetchFirst) {
    return new PagePromise((resolve, reject) => {
      Promise.resolve().then(fetchFirst).then(resolve, reject);
    });
  }

  async *[Symbol.asyncIterator]() {
    const first = await this;
    yield* first;
  }
}

/**
 * A list fetched page by page: `fetchPage(cursor)` resolves to the response
 * body; `cursorOf(lastItem)` is the next request's cursor.
 */
export function paginate(fetchPage, cursorOf, start) {
  const load = async (cursor) => {
    const body = (await fetchPage(cursor)) || {};
    const items = Array.isArray(body.data) ? body.data : [];
    return new Page(body, items, cursorOf ? (page) => load(cursorOf(page.data[page.data.length - 1])) : undefined);
  };
  return PagePromise.of(() => load(start));
}
