// Baseline for bench/secondary-throughput.sh: the least a Worker can do to
// serve an object of an S3-compatible store, i.e. sign a GET (SigV4,
// query-string auth, WebCrypto) and return the store's body unchanged. Reads
// the same SECONDARY_* settings as the Rust Worker; `GET /<key>`.
const enc = new TextEncoder();
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const hmac = async (key, text) =>
  crypto.subtle.sign("HMAC", await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]), enc.encode(text));
const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

async function presign(env, key) {
  const endpoint = new URL(env.SECONDARY_ENDPOINT);
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${env.SECONDARY_REGION}/s3/aws4_request`;
  const path = `/${env.SECONDARY_BUCKET}/${key.split("/").map(rfc3986).join("/")}`;
  const query = [
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${env.SECONDARY_ACCESS_KEY_ID}/${scope}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", "300"],
    ["X-Amz-SignedHeaders", "host"],
  ].map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).sort().join("&");
  const canonical = `GET\n${path}\n${query}\nhost:${endpoint.host}\n\nhost\nUNSIGNED-PAYLOAD`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hex(await crypto.subtle.digest("SHA-256", enc.encode(canonical)))}`;
  let k = await hmac(enc.encode(`AWS4${env.SECONDARY_SECRET_ACCESS_KEY}`), day);
  for (const part of [env.SECONDARY_REGION, "s3", "aws4_request"]) k = await hmac(k, part);
  return `${endpoint.origin}${path}?${query}&X-Amz-Signature=${hex(await hmac(k, toSign))}`;
}

export default {
  async fetch(request, env) {
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    const range = request.headers.get("range");
    const res = await fetch(await presign(env, key), { headers: range ? { range } : {} });
    const headers = { "content-type": "application/octet-stream" };
    for (const h of ["content-length", "content-range", "etag"]) if (res.headers.get(h)) headers[h] = res.headers.get(h);
    return new Response(res.body, { status: res.status, headers });
  },
};
