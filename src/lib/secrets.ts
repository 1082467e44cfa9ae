import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** Keys derived from APP_SECRET, one per purpose, so one leak does not open the others. */
export interface Secrets {
  jwtKey: Uint8Array;
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

export function createSecrets(appSecret: string): Secrets {
  const derive = (info: string) => new Uint8Array(hkdfSync('sha256', appSecret, 'relais', info, 32));
  const jwtKey = derive('jwt');
  const aesKey = derive('aes-256-gcm');
  return {
    jwtKey,
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    },
    decrypt(sealed) {
      const raw = Buffer.from(sealed, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', aesKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** URL-safe random token with `bytes` bytes of entropy. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
