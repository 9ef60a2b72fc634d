export type Greeting = { text: string; mood: string };

export function greet(name: string, mood: string): Greeting {
  return { text: `hello ${name}`, mood };
}
