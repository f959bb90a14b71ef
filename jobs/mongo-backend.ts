import { MongoBackend } from '@agendajs/mongo-backend';
import { MongoClient } from 'mongodb';

/**
 * Agenda's jobs in MongoDB (MONGODB_URL). Only Agenda uses MongoDB; sessions, flashes and
 * presence stay in PostgreSQL. The backend polls (no cross-process events), and its `every()`
 * upsert needs the unique index below to stay one schedule per name.
 */
export async function createMongoBackend(url: string): Promise<{ backend: MongoBackend; close(): Promise<void> }> {
  const client = await MongoClient.connect(url, { serverSelectionTimeoutMS: 5000 });
  const db = client.db();
  await db.collection('agendaJobs').createIndex({ name: 1 }, { unique: true, partialFilterExpression: { type: 'single' } });
  return { backend: new MongoBackend({ mongo: db, collection: 'agendaJobs' }), close: () => client.close() };
}
