//! One module per top-level table family; each declares its tables as statics.

pub mod ec2_instances;
