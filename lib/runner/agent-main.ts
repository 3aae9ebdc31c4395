// Entry point of the agent process (started detached by client.ts).
import { serve } from "./agent";

serve();
