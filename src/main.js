// JavaScript, not TypeScript, so that Node enables the compile cache before it strips a type:
// it strips with a WebAssembly compiler whose memory (10 to 25 MB here) the process then holds
// for its whole life. From the second start on, every file's stripped code and bytecode come
// from the cache (NODE_COMPILE_CACHE, or the system's temp dir) and the stripper never starts.
import { enableCompileCache } from "node:module";

enableCompileCache();
const { serve } = await import("./serve.ts");
await serve();
