import autocannon from "autocannon";
import { bodySource, type Format, MEDIA_TYPE } from "../generate/rides.ts";

/**
 * autocannon in its own process (so it does not share the bench's event loop): a
 * fixed number of connections POST as fast as answers come, for `seconds` or for
 * `amount` requests. Every request carries fresh ride ids from firstId on.
 */
export type ClosedLoopInput = {
  url: string;
  format: Format;
  ridesPerRequest: number;
  connections: number;
  seconds?: number;
  amount?: number;
  firstId: number;
  seed: number;
};
export type ClosedLoopResult = { seconds: number; ok: number; non2xx: number; errors: number; latencies: number[] };

const input: ClosedLoopInput = JSON.parse(process.argv[2]);
const body = bodySource(input);
let sent = 0;
const latencies: number[] = [];

const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(
    {
      url: `${input.url}/v1/rides`,
      method: "POST",
      headers: { "content-type": MEDIA_TYPE[input.format] },
      connections: Math.min(input.connections, input.amount ?? Infinity),
      duration: input.seconds ?? 3600,
      amount: input.amount,
      requests: [
        {
          setupRequest(request) {
            request.body = body(sent++);
            return request;
          },
        },
      ],
    },
    (error, result) => (error ? reject(error) : resolve(result)),
  );
  instance.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
});
const output: ClosedLoopResult = {
  seconds: result.duration,
  ok: result["2xx"],
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  latencies,
};
process.stdout.write(JSON.stringify(output));
