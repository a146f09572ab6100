import { embeddedTarget } from '../helpers/lockd-cluster.js';
import { failoverSuite } from './failover-suite.js';

failoverSuite(embeddedTarget);
