/**
 * The part of the WebAssembly JS API the map uses, typed here: the Node 20
 * typings the project builds with declare none, and a user's project may
 * have none either (`SharedMapHandle.memory` is a `WasmMemory`).
 */

/** A `WebAssembly.Memory`; the map's are shared (their `buffer` is a SharedArrayBuffer). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  /** Grows by `delta` 64 KiB pages; returns the old size in pages. */
  grow(delta: number): number;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

/** `globalThis.WebAssembly`, or undefined where there is none (e.g. `--jitless`). */
export const wasmApi: WasmApi | undefined = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
