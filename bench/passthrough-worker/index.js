// Baseline for bench/worker-throughput.sh: the least a Worker can do to serve
// an R2 object, i.e. return its body unchanged. `PUT /<key>` stores the
// request body (used only to seed objects larger than `wrangler r2 object put`
// accepts).
export default {
  async fetch(request, env) {
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    if (request.method === "PUT") {
      await env.CLIPS.put(key, request.body);
      return new Response("stored\n", { status: 201 });
    }
    const object = await env.CLIPS.get(key);
    if (object === null) return new Response("not found\n", { status: 404 });
    return new Response(object.body, {
      headers: { "content-type": "application/octet-stream", etag: object.httpEtag },
    });
  },
};
