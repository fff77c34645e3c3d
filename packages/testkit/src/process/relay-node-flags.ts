/**
 * The flags production starts the compiled relay with (the Docker image's ENTRYPOINT and `pnpm start` carry the same;
 * test/deploy keeps them equal). ManagedProcess runs every compiled script with them: relay nodes in tests and
 * benchmarks run as deployed, and the bench's Socket.IO servers run alike. Source maps name the
 * TypeScript line in a stack trace. One V8 helper thread instead of Node's four: a node is one event loop, and each
 * helper keeps its own malloc arena and stack, about 5 MB of resident memory for three more (measured on an idle
 * node); CPU per routed message did not move in `pnpm bench`.
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--enable-source-maps', '--v8-pool-size=1'];
