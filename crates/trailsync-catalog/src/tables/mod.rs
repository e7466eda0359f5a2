//! One module per AWS service; each declares its tables as statics and lists them in `ALL`.

pub mod ec2;
pub mod ecs;
pub mod iam;
pub mod rds;
