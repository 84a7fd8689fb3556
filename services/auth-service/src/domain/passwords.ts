import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

export interface Argon2Params {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** argon2id password hashing with the configured cost, rehash detection and a constant-work miss path. */
export class PasswordHasher {
  private dummyHash: string | undefined;

  constructor(private readonly params: Argon2Params) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.params });
  }

  /** `needsRehash` is true when the stored hash was made with other parameters than the current ones. */
  async verify(hash: string, password: string): Promise<{ ok: boolean; needsRehash: boolean }> {
    let ok = false;
    try {
      ok = await argon2.verify(hash, password);
    } catch {
      ok = false; // unreadable hash: treated as a mismatch
    }
    return { ok, needsRehash: ok && argon2.needsRehash(hash, { ...this.params }) };
  }

  /**
   * The same work as a real verification, for an account that does not exist, so the answer time does not
   * tell whether an e-mail is registered. Always false.
   */
  async verifyDummy(password: string): Promise<false> {
    this.dummyHash ??= await this.hash(randomBytes(32).toString('base64url'));
    await argon2.verify(this.dummyHash, password).catch(() => false);
    return false;
  }

  /** Computes the dummy hash at start-up so the first miss is not slower than a hit. */
  async warmUp(): Promise<void> {
    await this.verifyDummy('warm-up');
  }
}
