/**
 * fastify's own schema compilers (@fastify/ajv-compiler and @fastify/fast-json-stringify-compiler,
 * with the options fastify gives them), made lazy: a route's validator or serializer is compiled
 * on its first use, or by `warm()`, which `serve` calls once it is ready. Start-up then compiles
 * no schema and loads neither ajv nor fast-json-stringify: that took about a seventh of the cold
 * start (see the README's cold-start table). Behaviour is unchanged: the same compilers compile
 * the same schemas.
 */
import type { FastifyServerOptions } from 'fastify';

type Compile<F> = (route: unknown) => F;
type Validator = ((data: unknown) => unknown) & { errors?: unknown };
type Serializer = (doc: unknown) => string;
type Factory<F> = () => (externalSchemas: unknown, options: unknown) => Compile<F>;
type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/** Lazy compilers for one fastify instance (pass `compilersFactory` as its `schemaController`). */
export class LazySchemaCompilers {
  /** Compilations not done yet, in route order. */
  private readonly pending = new Set<() => void>();

  public readonly compilersFactory: CompilersFactory = {
    buildValidator: ((externalSchemas: unknown, options: unknown) => {
      let compile: Compile<Validator> | undefined;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const compiler = () => (compile ??= (require('@fastify/ajv-compiler') as Factory<Validator>)()(externalSchemas, options));
      return (route: unknown) => this.lazyValidator(() => compiler()(route));
    }) as unknown as CompilersFactory['buildValidator'],
    buildSerializer: ((externalSchemas: unknown, options: unknown) => {
      let compile: Compile<Serializer> | undefined;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const compiler = () => (compile ??= (require('@fastify/fast-json-stringify-compiler') as Factory<Serializer>)()(externalSchemas, options));
      return (route: unknown) => this.lazySerializer(() => compiler()(route));
    }) as unknown as CompilersFactory['buildSerializer'],
  };

  /** Compiles every schema not compiled yet, one per macrotask so that requests interleave. */
  public async warm(): Promise<void> {
    for (let next = this.pending.values().next(); !next.done; next = this.pending.values().next()) {
      next.value();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private lazyValidator(compile: () => Validator): Validator {
    let fn: Validator | undefined;
    const ensure = () => {
      this.pending.delete(ensure);
      fn ??= compile();
      return fn;
    };
    this.pending.add(ensure);
    // fastify reads `errors` off the validator after a failed validation, as ajv sets it.
    const validate: Validator = (data) => {
      const f = ensure();
      const result = f(data);
      validate.errors = f.errors;
      return result;
    };
    return validate;
  }

  private lazySerializer(compile: () => Serializer): Serializer {
    let fn: Serializer | undefined;
    const ensure = () => {
      this.pending.delete(ensure);
      fn ??= compile();
      return fn;
    };
    this.pending.add(ensure);
    return (doc) => ensure()(doc);
  }
}
