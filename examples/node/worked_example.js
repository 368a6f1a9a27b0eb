// A wengert client in Node.js, written from the contract alone (proto/ and its README): the
// notes' worked example f(x1, x2) = ln x1 + x1*x2 - sin x2 at (2, 5), its value and gradient, and
// an error's structured details (google.rpc.Status in the grpc-status-details-bin trailer).
//
//   npm install && WENGERT_TARGET=localhost:50051 node worked_example.js
//
// Prints one line per check and exits 0 when every check holds.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const PROTO = path.join(__dirname, "..", "..", "proto");
const GOOGLE = path.dirname(require.resolve("google-proto-files/package.json"));
const target = process.env.WENGERT_TARGET || "localhost:50051";

const definition = protoLoader.loadSync("wengert/v1/service.proto", {
  includeDirs: [PROTO], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const wengert = grpc.loadPackageDefinition(definition).wengert.v1;
const client = new wengert.DifferentiationService(target, grpc.credentials.createInsecure());

// google.rpc.Status and its details, to read errors.
const rpc = new protobuf.Root();
rpc.resolvePath = (origin, target) => path.join(GOOGLE, target);
rpc.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
rpc.resolveAll();
const Status = rpc.lookupType("google.rpc.Status");
const ErrorInfo = rpc.lookupType("google.rpc.ErrorInfo");

// Tensors: dtype, shape, and the elements as little-endian bytes in C order (tensor.proto).
function scalar(value) {
  const data = Buffer.alloc(8);
  data.writeDoubleLE(value);
  return { dtype: "DTYPE_FLOAT64", shape: [], data };
}

function value(tensor) {
  return tensor.data.readDoubleLE(0);
}

// The worked example as a graph: the Wengert list of the notes, v1 .. v5 (graph.proto).
const scalarType = { dtype: "DTYPE_FLOAT64", shape: [] };
const graph = {
  inputs: [{ name: "x1", type: scalarType }, { name: "x2", type: scalarType }],
  nodes: [
    { id: "v1", op: "log", inputs: ["x1"] },
    { id: "v2", op: "mul", inputs: ["x1", "x2"] },
    { id: "v3", op: "sin", inputs: ["x2"] },
    { id: "v4", op: "add", inputs: ["v1", "v2"] },
    { id: "v5", op: "sub", inputs: ["v4", "v3"] },
  ],
  outputs: [{ name: "y", value: "v5" }],
};
const inputs = { x1: scalar(2.0), x2: scalar(5.0) };

function call(method, request) {
  const deadline = new Date(Date.now() + 10000);
  return new Promise((resolve, reject) =>
    client[method](request, { deadline }, (error, response) => (error ? reject(error) : resolve(response))));
}

function check(what, ok) {
  console.log(`${ok ? "ok" : "FAILED"}: ${what}`);
  if (!ok) process.exitCode = 1;
}

function close(a, b) {
  return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
}

function errorInfo(error) {
  const raw = error.metadata.get("grpc-status-details-bin")[0];
  const status = Status.decode(raw);
  const any = status.details.find((d) => d.type_url.endsWith("/google.rpc.ErrorInfo"));
  return ErrorInfo.decode(any.value);
}

async function main() {
  const evaluated = await call("Evaluate", { graph, inputs });
  check(`value ${value(evaluated.outputs.y)} = 11.652071455223084`,
        close(value(evaluated.outputs.y), 11.652071455223084));

  // The graph again by the id the server returned, with the cotangent 1 on y: the gradient.
  const vjp = await call("Vjp", { graph_id: evaluated.graph_id, inputs, cotangents: { y: scalar(1.0) } });
  const gradient = [value(vjp.cotangents.x1), value(vjp.cotangents.x2)];
  check(`gradient (${gradient}) = (5.5, 1.7163378145367738)`,
        close(gradient[0], 5.5) && close(gradient[1], 1.7163378145367738));

  // An op no plugin provides: UNIMPLEMENTED, with the reason and the node in the details.
  const broken = JSON.parse(JSON.stringify(graph));
  broken.nodes[2].op = "no_such_op";
  try {
    await call("Evaluate", { graph: broken, inputs });
    check("an unknown op is refused", false);
  } catch (error) {
    const info = errorInfo(error);
    check(`UNIMPLEMENTED (${error.code}), reason ${info.reason}, node ${info.metadata.node}, ` +
          `field ${info.metadata.field}`,
          error.code === grpc.status.UNIMPLEMENTED && info.domain === "wengert" &&
          info.reason === "UNKNOWN_OP" && info.metadata.node === "v3" &&
          info.metadata.op === "no_such_op" && info.metadata.field === "graph.nodes[2]");
  }
  client.close();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
  client.close();
});
