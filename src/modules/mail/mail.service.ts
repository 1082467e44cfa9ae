import nodemailer, { type Transporter } from 'nodemailer';
import { Prisma } from '../../db.js';
import { enqueueJob, registerJobHandler } from '../../jobs/outbox.js';
import { log } from '../../lib/logger.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

const FROM = 'Relais <no-reply@relais.local>';

/**
 * Mail leaves through the outbox: it is queued in the transaction that created the token it
 * carries, then sent by nodemailer to SMTP_URL. Without SMTP_URL it is written to the log and
 * the outbox row stays as the record.
 */
export function configureMail(smtpUrl: string | undefined): void {
  const transport: Transporter | null = smtpUrl ? nodemailer.createTransport(smtpUrl) : null;
  registerJobHandler('mail', async (payload) => {
    const mail = payload as unknown as Mail;
    if (!transport) {
      log.info({ mail: { to: mail.to, subject: mail.subject, text: mail.text } }, 'mail (no SMTP_URL: logged, kept in outbox)');
      return;
    }
    await transport.sendMail({ from: FROM, to: mail.to, subject: mail.subject, text: mail.text });
  });
}

export async function queueMail(tx: Prisma.TransactionClient, mail: Mail): Promise<void> {
  await enqueueJob(tx, 'mail', { ...mail });
}
