import fs from "fs";
export default { fetch: () => new Response(String(fs)) };
