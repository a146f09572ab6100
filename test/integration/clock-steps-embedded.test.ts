import { embeddedTarget } from '../helpers/lockd-cluster.js';
import { clockStepSuite } from './clock-steps-suite.js';

clockStepSuite(embeddedTarget);
