/** Version reported in build_info, the agent.started event and `--version`. */
export const AGENT_VERSION = '0.1.0';
