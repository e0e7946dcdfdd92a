/**
 * `base` + `path`, keeping any path prefix of the base (a proxy at https://proxy/toolzz
 * gives https://proxy/toolzz/api/v1/...).
 */
export function joinUrl(base: string, path: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
  return url;
}
