import type { Mail } from '../mail/mail.service.js';

export const LOCALES = ['en', 'fr', 'uk'] as const;
export type Locale = (typeof LOCALES)[number];

/** Names shown by `locales`: in English and in the language itself. */
export const LOCALE_NAMES: Record<Locale, { name: string; nativeName: string }> = {
  en: { name: 'English', nativeName: 'English' },
  fr: { name: 'French', nativeName: 'Français' },
  uk: { name: 'Ukrainian', nativeName: 'Українська' },
};

/** A supported locale from a header value ("fr", "FR", "fr-CA"), or null. */
export function parseLocale(value: string | null | undefined): Locale | null {
  const primary = (value ?? '').trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return (LOCALES as readonly string[]).includes(primary) ? (primary as Locale) : null;
}

/** The locale to use: the supported one asked for, else English. */
export const toLocale = (value: string | null | undefined): Locale => parseLocale(value) ?? 'en';

type Template = (link: string) => { subject: string; text: string };

const verify: Record<Locale, Template> = {
  en: (link) => ({ subject: 'Confirm your email', text: `Welcome to Relais.\n\nConfirm your email address by opening this link (valid 24 hours):\n${link}\n` }),
  fr: (link) => ({ subject: 'Confirmez votre email', text: `Bienvenue sur Relais.\n\nConfirmez votre adresse email en ouvrant ce lien (valable 24 heures) :\n${link}\n` }),
  uk: (link) => ({ subject: 'Підтвердьте email', text: `Ласкаво просимо до Relais.\n\nПідтвердьте адресу email за посиланням (дійсне 24 години):\n${link}\n` }),
};

const reset: Record<Locale, Template> = {
  en: (link) => ({ subject: 'Reset your password', text: `Someone asked to reset the password of your Relais account.\n\nChoose a new password here (valid 1 hour):\n${link}\n\nIf it was not you, ignore this mail.\n` }),
  fr: (link) => ({ subject: 'Réinitialisez votre mot de passe', text: `Une réinitialisation du mot de passe de votre compte Relais a été demandée.\n\nChoisissez un nouveau mot de passe ici (valable 1 heure) :\n${link}\n\nSi ce n'était pas vous, ignorez cet email.\n` }),
  uk: (link) => ({ subject: 'Скидання пароля', text: `Надійшов запит на скидання пароля вашого облікового запису Relais.\n\nОберіть новий пароль тут (дійсне 1 годину):\n${link}\n\nЯкщо це були не ви, проігноруйте цей лист.\n` }),
};

export function verificationMail(to: string, locale: Locale, link: string): Mail {
  return { to, ...verify[locale](link) };
}

export function passwordResetMail(to: string, locale: Locale, link: string): Mail {
  return { to, ...reset[locale](link) };
}
