"""oMeBench: organic reaction mechanism prediction, scored with oMeS."""
